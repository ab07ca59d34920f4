// Package envd serves E2B's in-sandbox API (what envd, E2B's in-sandbox
// daemon, answers on port 49983) from snapgate itself: GET /health,
// GET/POST /files and the process.Process and filesystem.Filesystem Connect
// RPCs the e2b SDKs call for sandbox.commands.* and sandbox.files.*. It is a
// thin adapter over core.Dataplane: requests are validated against
// specs/envd.yaml, routed to a sandbox by the E2b-Sandbox-Id header or a
// 49983-<id>.<domain> Host, authorized by X-Access-Token, and translated to
// core calls; core results and errors are rendered in envd's shapes (proto3
// JSON, Connect envelopes, {"code","message"} bodies). It holds no business
// rules. Imports: core, adapters/edge, gin, kin-openapi.
package envd

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// Options wires the adapter to core.
type Options struct {
	Dataplane *core.Dataplane
	Spec      *openapi3.T // specs.Envd
	Logger    *slog.Logger
	// Validate turns request validation against Spec on.
	Validate bool
}

// API is the envd adapter.
type API struct {
	dp        *core.Dataplane
	spec      *openapi3.T
	log       *slog.Logger
	validator *edge.Validator
	validate  bool
	watchers  *watchers
	// messages holds the schema each streaming route's request message is
	// validated against (the operation's x-envd-message), by gin path.
	messages map[string]*openapi3.SchemaRef
}

// New builds the adapter.
func New(opt Options) (*API, error) {
	if opt.Dataplane == nil || opt.Spec == nil {
		return nil, fmt.Errorf("envd: dataplane and spec are required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	messages, err := messageSchemas(opt.Spec)
	if err != nil {
		return nil, err
	}
	return &API{
		dp: opt.Dataplane, spec: opt.Spec, log: opt.Logger,
		validator: edge.NewValidator(opt.Spec), validate: opt.Validate,
		watchers: newWatchers(), messages: messages,
	}, nil
}

// kind is how a route answers: plain HTTP with {"code","message"} errors,
// a unary Connect RPC, or a server-streaming Connect RPC.
type kind int

const (
	plainHTTP kind = iota
	unaryRPC
	streamRPC
)

type route struct {
	method, path string
	kind         kind
	// open: the handler needs the sandbox (all but /health, which decides
	// itself what an unknown sandbox means).
	open    bool
	handler gin.HandlerFunc
}

func (a *API) routes() []route {
	const post = "POST"
	return []route{
		{"GET", "/health", plainHTTP, false, a.health},
		{"GET", "/files", plainHTTP, true, a.download},
		{post, "/files", plainHTTP, true, a.upload},
		{post, "/process.Process/Start", streamRPC, true, a.start},
		{post, "/process.Process/Connect", streamRPC, true, a.connect},
		{post, "/process.Process/List", unaryRPC, true, a.list},
		{post, "/process.Process/SendInput", unaryRPC, true, a.sendInput},
		{post, "/process.Process/SendSignal", unaryRPC, true, a.sendSignal},
		{post, "/process.Process/CloseStdin", unaryRPC, true, a.closeStdin},
		{post, "/process.Process/Update", unaryRPC, true, a.update},
		{post, "/filesystem.Filesystem/Stat", unaryRPC, true, a.stat},
		{post, "/filesystem.Filesystem/ListDir", unaryRPC, true, a.listDir},
		{post, "/filesystem.Filesystem/MakeDir", unaryRPC, true, a.makeDir},
		{post, "/filesystem.Filesystem/Move", unaryRPC, true, a.move},
		{post, "/filesystem.Filesystem/Remove", unaryRPC, true, a.remove},
		{post, "/filesystem.Filesystem/WatchDir", streamRPC, true, a.watchDir},
		{post, "/filesystem.Filesystem/CreateWatcher", unaryRPC, true, a.createWatcher},
		{post, "/filesystem.Filesystem/GetWatcherEvents", unaryRPC, true, a.getWatcherEvents},
		{post, "/filesystem.Filesystem/RemoveWatcher", unaryRPC, true, a.removeWatcher},
	}
}

// Register mounts every route at the root of r, beside the platform API
// (envd's paths do not collide with it). It fails when a route has no
// operation in the spec, validation on or off.
func (a *API) Register(r gin.IRouter) error {
	for _, rt := range a.routes() {
		if err := a.validator.Add(rt.method, rt.path); err != nil {
			return fmt.Errorf("envd: %w", err)
		}
		chain := []gin.HandlerFunc{edge.AssignRequestID, a.setKind(rt.kind), a.route}
		if rt.open {
			chain = append(chain, a.open)
		}
		if rt.kind == unaryRPC {
			chain = append(chain, a.unaryDeadline)
		}
		chain = append(chain, a.validateRoute(rt.path), rt.handler)
		r.Handle(rt.method, rt.path, chain...)
	}
	return nil
}

// validateRoute returns the validation middleware of one route; a no-op
// when validation is off.
func (a *API) validateRoute(path string) gin.HandlerFunc {
	if !a.validate {
		return func(*gin.Context) {}
	}
	return func(c *gin.Context) {
		if err := a.validator.Check(c, path); err != nil {
			a.fail(c, err)
		}
	}
}

// ctx is what handlers pass to core: the request's context, never gin's.
func ctx(c *gin.Context) context.Context { return c.Request.Context() }
