// Package envd serves E2B's in-sandbox API (what envd, E2B's in-sandbox
// daemon, answers on port 49983) from snapgate itself: GET /health,
// GET/POST /files and the process.Process and filesystem.Filesystem Connect
// RPCs the e2b SDKs call for sandbox.commands.* and sandbox.files.*. It is a
// thin adapter over core.Dataplane: a request is routed to a sandbox by the
// E2b-Sandbox-Id header or a 49983-<id>.<domain> Host and authorized by
// X-Access-Token (gin middleware, every route); /health and /files are
// validated against specs/envd.yaml, and the RPCs are served by connect-go
// handlers generated from specs/envd/*.proto (./api), in every protocol and
// codec connect-go speaks (the SDKs use Connect with JSON). Core results
// and errors are rendered in envd's shapes. It holds no business rules.
// Imports: core, adapters/edge, ./api, gin, kin-openapi, connect-go.
package envd

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem"
	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem/filesystemconnect"
	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process"
	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process/processconnect"
	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// Options wires the adapter to core.
type Options struct {
	Dataplane *core.Dataplane
	Spec      *openapi3.T // specs.Envd: /health and /files
	Logger    *slog.Logger
	// Validate turns validation of /health and /files against Spec on.
	// The RPCs are always checked: a message that does not decode into
	// its proto type is refused by connect-go.
	Validate bool
}

// API is the envd adapter.
type API struct {
	dp          *core.Dataplane
	log         *slog.Logger
	validator   *edge.Validator
	validate    bool
	watchers    *watchers
	errorWriter *connect.ErrorWriter
	// services are the generated Connect handlers with their descriptors,
	// whose methods are the RPC routes.
	services []service
}

type service struct {
	desc    protoreflect.ServiceDescriptor
	handler http.Handler
}

// New builds the adapter.
func New(opt Options) (*API, error) {
	if opt.Dataplane == nil || opt.Spec == nil {
		return nil, fmt.Errorf("envd: dataplane and spec are required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	a := &API{
		dp: opt.Dataplane, log: opt.Logger,
		validator: edge.NewValidator(opt.Spec), validate: opt.Validate,
		watchers: newWatchers(),
	}
	opts := a.handlerOptions()
	a.errorWriter = connect.NewErrorWriter(opts...)
	_, fs := filesystemconnect.NewFilesystemHandler(filesystemRPC{a}, opts...)
	_, proc := processconnect.NewProcessHandler(processRPC{a}, opts...)
	a.services = []service{
		{filesystem.File_filesystem_filesystem_proto.Services().ByName("Filesystem"), fs},
		{process.File_process_process_proto.Services().ByName("Process"), proc},
	}
	return a, nil
}

type route struct {
	method, path string
	// rpc: a Connect method, whose failures before its handler are written
	// in the request's RPC protocol.
	rpc bool
	// open: the handler needs the sandbox (all but /health, which decides
	// itself what an unknown sandbox means).
	open    bool
	handler gin.HandlerFunc
}

// routes are /health, /files and every method of the Connect services at
// /<package>.<Service>/<Method>.
func (a *API) routes() []route {
	out := []route{
		{"GET", "/health", false, false, a.health},
		{"GET", "/files", false, true, a.download},
		{"POST", "/files", false, true, a.upload},
	}
	for _, s := range a.services {
		methods := s.desc.Methods()
		for i := range methods.Len() {
			path := "/" + string(s.desc.FullName()) + "/" + string(methods.Get(i).Name())
			out = append(out, route{"POST", path, true, true, gin.WrapH(s.handler)})
		}
	}
	return out
}

// Mount mounts every route at the root of r, beside the platform API
// (envd's paths do not collide with it). It fails when /health or /files
// has no operation in the spec, validation on or off. envd takes no API
// key: its Authenticate step finds the sandbox a request is for (route),
// whose access token the node holding it checks (open), so a call is
// forwarded before anything else reads the sandbox.
func (a *API) Mount(r *edge.Router) error {
	v := edge.Vendor{
		Label: "envd", Owns: []string{"/health", "/files", "/process.Process", "/filesystem.Filesystem"},
		Authenticate: a.route, WriteError: a.fail,
	}
	sandbox := edge.Func(func(c *gin.Context) string { return c.GetString(sandboxKey) })
	for _, rt := range a.routes() {
		var chain []gin.HandlerFunc
		if rt.open {
			chain = append(chain, a.open)
		}
		if !rt.rpc {
			if err := a.validator.Add(rt.method, rt.path); err != nil {
				return fmt.Errorf("envd: %w", err)
			}
			chain = append(chain, a.validateRoute(rt.path))
		}
		v.Routes = append(v.Routes, edge.Route{
			Method: rt.method, Path: rt.path, Locate: sandbox,
			// Every call but /health streams (Connect streams, /files
			// both ways); uploads go to the sandbox's disk.
			Stream: rt.path != "/health", Upload: rt.method == "POST" && rt.path == "/files",
			Prepare:  []gin.HandlerFunc{setRPC(rt.rpc)},
			Handlers: append(chain, rt.handler),
		})
	}
	return r.Mount(v)
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
