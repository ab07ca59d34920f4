// Package e2b serves E2B's platform API (sandboxes, snapshots, template
// deletion): it translates HTTP requests (validated against specs/e2b.yaml)
// into core calls and core results and errors into E2B's shapes. It holds no
// business rules. envd (the in-sandbox API) is not served here.
// Imports: core, gin, kin-openapi.
package e2b

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
	Sandboxes *core.Sandboxes
	Snapshots *core.Snapshots
	Keys      *core.Keys
	Spec      *openapi3.T
	Logger    *slog.Logger
	// Validate turns request validation against Spec on.
	Validate bool
	// Domain is returned as the sandboxes' domain, from which the SDKs
	// derive envd's address. Empty: the request's Host, so an SDK that
	// only has E2B_API_URL set never sends envd traffic (and the envd
	// token) to e2b.app.
	Domain string
	// EnvdVersion is the envd version advertised; the SDKs gate features on
	// it. Default DefaultEnvdVersion.
	EnvdVersion string
}

// DefaultEnvdVersion is the envd version advertised unless configured. The
// SDKs gate features on it, so snapgate's envd must serve what 0.5.7
// implies (closeStdin from 0.5.2, octet-stream and gzip uploads from 0.5.7)
// and nothing newer (file metadata headers need 0.6.2).
const DefaultEnvdVersion = "0.5.7"

// API is the E2B adapter.
type API struct {
	sandboxes   *core.Sandboxes
	snapshots   *core.Snapshots
	keys        *core.Keys
	log         *slog.Logger
	validator   *edge.Validator
	validate    bool
	domain      string
	envdVersion string
}

// New builds the adapter.
func New(opt Options) (*API, error) {
	if opt.Sandboxes == nil || opt.Snapshots == nil || opt.Keys == nil || opt.Spec == nil {
		return nil, fmt.Errorf("e2b: sandboxes, snapshots, keys and spec are required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.EnvdVersion == "" {
		opt.EnvdVersion = DefaultEnvdVersion
	}
	a := &API{
		sandboxes: opt.Sandboxes, snapshots: opt.Snapshots, keys: opt.Keys, log: opt.Logger,
		domain: opt.Domain, envdVersion: opt.EnvdVersion,
		validator: edge.NewValidator(opt.Spec), validate: opt.Validate,
	}
	return a, nil
}

type route struct {
	method, path string // gin syntax; the spec writes {param}
	handler      gin.HandlerFunc
}

// routes lists what is served. JS 2.51 uses the /v2 create and connect,
// Python and older JS the v1 ones; both behave the same.
func (a *API) routes() []route {
	return []route{
		{"POST", "/sandboxes", a.createSandboxV1},
		{"POST", "/v2/sandboxes", a.createSandboxV2},
		{"GET", "/v2/sandboxes", a.listSandboxes},
		{"GET", "/sandboxes/:sandboxID", a.getSandbox},
		{"DELETE", "/sandboxes/:sandboxID", a.killSandbox},
		{"POST", "/sandboxes/:sandboxID/connect", a.connectSandboxV1},
		{"POST", "/v2/sandboxes/:sandboxID/connect", a.connectSandboxV2},
		{"POST", "/sandboxes/:sandboxID/timeout", a.setSandboxTimeout},
		{"POST", "/sandboxes/:sandboxID/pause", a.pauseSandbox},
		{"POST", "/sandboxes/:sandboxID/resume", a.resumeSandbox},
		{"POST", "/sandboxes/:sandboxID/snapshots", a.createSnapshot},
		{"GET", "/snapshots", a.listSnapshots},
		{"DELETE", "/templates/:templateID", a.deleteTemplate},
	}
}

// Register mounts every route. It fails when a route has no operation in
// the spec (validation on or off), so the spec always covers what is
// served. The router must have
// UseRawPath and UnescapePathValues set: the SDKs percent-encode template
// ids ("ns%2Fname%3Atag") into one path segment.
func (a *API) Register(r gin.IRouter) error {
	for _, rt := range a.routes() {
		if err := a.validator.Add(rt.method, rt.path); err != nil {
			return fmt.Errorf("e2b: %w", err)
		}
		r.Handle(rt.method, rt.path, edge.AssignRequestID, a.authenticate, a.validateRoute(rt.path), rt.handler)
	}
	return nil
}

// NotFound answers an unknown route in E2B's error shape.
func (a *API) NotFound(c *gin.Context) {
	edge.AssignRequestID(c)
	a.writeError(c, core.Errorf(core.ErrNotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
}

// validateRoute returns the validation middleware of one route (its gin
// path); a no-op when validation is off.
func (a *API) validateRoute(path string) gin.HandlerFunc {
	if !a.validate {
		return func(*gin.Context) {}
	}
	return func(c *gin.Context) {
		err := a.validator.UndeclaredQuery(c, path)
		if err == nil {
			err = a.validator.Check(c, path)
		}
		if err != nil {
			a.writeError(c, err)
		}
	}
}

// authenticate resolves the API key (X-API-KEY in any casing, or a bearer
// token) into the request's principal. E2B has no tenant header.
func (a *API) authenticate(c *gin.Context) {
	p, err := a.keys.Authenticate(c.Request.Context(), edge.APIKey(c), "")
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.Request = c.Request.WithContext(core.WithPrincipal(c.Request.Context(), p))
	c.Set("tenant", p.TenantID)
}

// ctx is what handlers pass to core: the request's context, never gin's.
func ctx(c *gin.Context) context.Context { return c.Request.Context() }
