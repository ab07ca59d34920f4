// Package langsmith serves LangSmith's sandboxes API: it translates HTTP
// requests (validated against specs/langsmith.yaml) into core calls and core
// results and errors into LangSmith's shapes. It holds no business rules.
// Imports: core, specs, gin, kin-openapi.
package langsmith

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// Options wires the adapter to core.
type Options struct {
	Snapshots  *core.Snapshots
	Sandboxes  *core.Sandboxes
	Registries *core.Registries
	Keys       *core.Keys
	Spec       *openapi3.T
	Logger     *slog.Logger
	// PublicURL is the base URL clients reach snapgate at, for boxes'
	// dataplane_url; empty means the Host each request came to.
	PublicURL string
	// Validate turns request validation against Spec on (the default in
	// production; off only for the benchmark's comparison).
	Validate bool
	// Dataplane serves commands and files inside boxes (their
	// dataplane_url); nil leaves the dataplane unmounted.
	Dataplane *core.Dataplane
}

// API is the LangSmith adapter.
type API struct {
	snapshots  *core.Snapshots
	sandboxes  *core.Sandboxes
	publicURL  string
	registries *core.Registries
	keys       *core.Keys
	dataplane  *core.Dataplane
	log        *slog.Logger
	validator  *edge.Validator
}

// Prefixes the SDKs use: JS >= 0.10.11 and Stainless use /api/v2/sandboxes,
// older JS and Python /v2/sandboxes, Python with LANGSMITH_ENDPOINT=.../api/v1
// /api/v1/v2/sandboxes.
var Prefixes = []string{"/v2/sandboxes", "/api/v2/sandboxes", "/api/v1/v2/sandboxes"}

// specPrefix is the prefix the spec's paths are written under.
const specPrefix = "/v2/sandboxes"

// New builds the adapter.
func New(opt Options) (*API, error) {
	if opt.Snapshots == nil || opt.Sandboxes == nil || opt.Registries == nil || opt.Keys == nil || opt.Spec == nil {
		return nil, fmt.Errorf("langsmith: snapshots, sandboxes, registries, keys and spec are required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	a := &API{snapshots: opt.Snapshots, sandboxes: opt.Sandboxes, publicURL: opt.PublicURL, registries: opt.Registries, keys: opt.Keys, log: opt.Logger}
	a.dataplane = opt.Dataplane
	if opt.Validate {
		a.validator = edge.NewValidator(opt.Spec)
	}
	return a, nil
}

type route struct {
	method, path string // path relative to the prefix, gin syntax
	handler      gin.HandlerFunc
}

func (a *API) routes() []route {
	return []route{
		{"POST", "/snapshots", a.createSnapshot},
		{"GET", "/snapshots", a.listSnapshots},
		{"GET", "/snapshots/:snapshot_ref", a.getSnapshot},
		{"DELETE", "/snapshots/:snapshot_ref", a.deleteSnapshot},
		{"POST", "/registries", a.createRegistry},
		{"GET", "/registries", a.listRegistries},
		{"GET", "/registries/:registry_name", a.getRegistry},
		{"PATCH", "/registries/:registry_name", a.updateRegistry},
		{"DELETE", "/registries/:registry_name", a.deleteRegistry},
		{"POST", "/boxes", a.createBox},
		{"GET", "/boxes", a.listBoxes},
		{"GET", "/boxes/:box_name", a.getBox},
		{"PATCH", "/boxes/:box_name", a.updateBox},
		{"DELETE", "/boxes/:box_name", a.deleteBox},
		{"GET", "/boxes/:box_name/status", a.getBoxStatus},
		{"POST", "/boxes/:box_name/start", a.startBox},
		{"POST", "/boxes/:box_name/stop", a.stopBox},
		{"POST", "/boxes/:box_name/snapshot", a.captureBox},
	}
}

// Register mounts every route under every prefix. It fails when a route has
// no operation in the spec, so the spec always covers what is served.
func (a *API) Register(r gin.IRouter) error {
	for _, rt := range a.routes() {
		if a.validator != nil {
			if err := a.validator.Add(rt.method, specPrefix+rt.path); err != nil {
				err = fmt.Errorf("langsmith: %w", err)
				return err
			}
		}
		for _, prefix := range Prefixes {
			r.Handle(rt.method, prefix+rt.path, edge.AssignRequestID, a.authenticate, a.validate(rt.path), rt.handler)
		}
	}
	return a.registerDataplane(r)
}

// Owns reports whether a request path belongs to this adapter (for the
// router's not-found handler to answer in LangSmith's shape).
// E2B serves /v2/sandboxes itself, so there only LangSmith's own sub-trees
// count.
func Owns(path string) bool {
	if strings.HasPrefix(path, "/dataplane/") {
		return true
	}
	for _, p := range Prefixes {
		if p == specPrefix {
			continue
		}
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	for _, sub := range []string{"/snapshots", "/registries", "/boxes"} {
		if p := specPrefix + sub; path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// NotFound answers an unknown route under a LangSmith prefix.
func (a *API) NotFound(c *gin.Context) {
	edge.AssignRequestID(c)
	a.writeError(c, core.Errorf(core.ErrNotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
}

// authenticate resolves the API key (X-Api-Key in any casing, or a bearer
// token) and the optional X-Tenant-Id into the request's principal.
func (a *API) authenticate(c *gin.Context) {
	p, err := a.keys.Authenticate(c.Request.Context(), edge.APIKey(c), c.GetHeader("X-Tenant-Id"))
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.Request = c.Request.WithContext(core.WithPrincipal(c.Request.Context(), p))
	c.Set("tenant", p.TenantID)
}

// validate returns the validation middleware of one route (path relative
// to the prefix); a no-op when validation is off.
func (a *API) validate(path string) gin.HandlerFunc {
	if a.validator == nil {
		return func(*gin.Context) {}
	}
	return func(c *gin.Context) {
		err := a.validator.UndeclaredQuery(c, specPrefix+path)
		if err == nil {
			err = a.validator.Check(c, specPrefix+path)
		}
		if err != nil {
			a.writeError(c, err)
		}
	}
}

// ctx is what handlers pass to core: the request's context, never gin's.
func ctx(c *gin.Context) context.Context { return c.Request.Context() }
