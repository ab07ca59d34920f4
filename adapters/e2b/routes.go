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
	"strings"

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
	Metrics   *core.Metrics
	Spec      *openapi3.T
	Logger    *slog.Logger
	// Validate turns request validation against Spec on.
	Validate bool
	// Domain is returned as the sandboxes' domain, from which the SDKs
	// derive envd's address, signed file URLs and getHost. Empty: the
	// request's Host (a loopback address written localhost: see
	// core.SandboxDomain), so an SDK that only has E2B_API_URL set never
	// sends envd traffic (and the envd token) to e2b.app.
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
	metrics     *core.Metrics
	log         *slog.Logger
	validator   *edge.Validator
	validate    bool
	domain      string
	envdVersion string
}

// New builds the adapter.
func New(opt Options) (*API, error) {
	if opt.Sandboxes == nil || opt.Snapshots == nil || opt.Metrics == nil || opt.Keys == nil || opt.Spec == nil {
		return nil, fmt.Errorf("e2b: sandboxes, snapshots, metrics, keys and spec are required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.EnvdVersion == "" {
		opt.EnvdVersion = DefaultEnvdVersion
	}
	a := &API{
		sandboxes: opt.Sandboxes, snapshots: opt.Snapshots, keys: opt.Keys, metrics: opt.Metrics, log: opt.Logger,
		domain: opt.Domain, envdVersion: opt.EnvdVersion,
		validator: edge.NewValidator(opt.Spec), validate: opt.Validate,
	}
	return a, nil
}

type route struct {
	method, path string // gin syntax; the spec writes {param}
	locate       edge.Locator
	handler      gin.HandlerFunc
}

// unserved lists the platform routes the e2b JS SDK (2.51) calls that
// snapgate does not serve yet. Each answers 501 in E2B's shape once the
// caller is authenticated and, for a sandbox's route, once the sandbox is
// found (another tenant's is 404 as usual): never the unknown-route 404,
// which the SDK reads as "sandbox not found" for a live sandbox. They are
// not in the spec (nothing of their requests is read).
var unserved = []struct {
	method, path string
}{
	{"POST", "/sandboxes/:sandboxID/fork"}, // Sandbox.fork
	{"POST", "/v3/templates"},              // Template.build
	{"POST", "/v2/templates/:templateID/builds/:buildID"},
	{"GET", "/templates/:templateID/builds/:buildID/status"},
	{"GET", "/templates/:templateID/files/:hash"},
	{"GET", "/templates/:templateID/tags"},
	{"POST", "/templates/tags"},
	{"DELETE", "/templates/tags"},
	{"GET", "/templates/aliases/:alias"}, // Template.exists
	{"GET", "/secrets"},
	{"POST", "/secrets"},
	{"GET", "/secrets/:secretID"},
	{"POST", "/secrets/:secretID"},
	{"DELETE", "/secrets/:secretID"},
	{"GET", "/volumes"},
	{"POST", "/volumes"},
	{"GET", "/volumes/:volumeID"},
	{"DELETE", "/volumes/:volumeID"},
	{"GET", "/volumecontent/:volumeID/dir"},
	{"POST", "/volumecontent/:volumeID/dir"},
	{"GET", "/volumecontent/:volumeID/file"},
	{"PUT", "/volumecontent/:volumeID/file"},
	{"GET", "/volumecontent/:volumeID/path"},
	{"PATCH", "/volumecontent/:volumeID/path"},
	{"DELETE", "/volumecontent/:volumeID/path"},
}

// notServed answers an unserved route: 501 naming it, after finding the
// sandbox its path names, if any.
func (a *API) notServed(c *gin.Context) {
	if id := c.Param("sandboxID"); id != "" {
		if _, err := a.sandboxes.Get(ctx(c), id); err != nil {
			a.writeError(c, err)
			return
		}
	}
	a.writeError(c, edge.NotServed(c.Request.Method, c.FullPath()))
}

// routes lists what is served. JS 2.51 uses the /v2 create and connect,
// Python and older JS the v1 ones; both behave the same.
func (a *API) routes() []route {
	sandbox, anyNode := edge.Param("sandboxID"), edge.AnyNode
	return []route{
		{"POST", "/sandboxes", edge.Places, a.createSandboxV1},
		{"POST", "/v2/sandboxes", edge.Places, a.createSandboxV2},
		{"GET", "/v2/sandboxes", anyNode, a.listSandboxes},
		{"GET", "/sandboxes/:sandboxID", sandbox, a.getSandbox},
		{"DELETE", "/sandboxes/:sandboxID", sandbox, a.killSandbox},
		{"POST", "/sandboxes/:sandboxID/connect", sandbox, a.connectSandboxV1},
		{"POST", "/v2/sandboxes/:sandboxID/connect", sandbox, a.connectSandboxV2},
		{"POST", "/sandboxes/:sandboxID/timeout", sandbox, a.setSandboxTimeout},
		{"PUT", "/sandboxes/:sandboxID/network", sandbox, a.updateNetwork},
		{"POST", "/sandboxes/:sandboxID/pause", sandbox, a.pauseSandbox},
		{"POST", "/sandboxes/:sandboxID/resume", sandbox, a.resumeSandbox},
		{"POST", "/sandboxes/:sandboxID/snapshots", sandbox, a.createSnapshot},
		{"GET", "/sandboxes/:sandboxID/metrics", sandbox, a.getSandboxMetrics},
		{"GET", "/snapshots", anyNode, a.listSnapshots},
		{"DELETE", "/templates/:templateID", anyNode, a.deleteTemplate},
	}
}

// Mount mounts every route on r, and the unserved ones answering 501. It
// fails when a served route has no operation in the spec (validation on or
// off), so the spec always covers what is served. E2B answers unknown routes under its paths, and those no vendor
// owns. The SDKs percent-encode template ids ("ns%2Fname%3Atag") into one
// path segment, which the edge's router keeps whole.
func (a *API) Mount(r *edge.Router) error {
	v := edge.Vendor{
		Label: "e2b", Owns: []string{
			"/sandboxes", "/v2/sandboxes", "/snapshots", "/templates", "/v2/templates", "/v3/templates",
			"/secrets", "/volumes", "/volumecontent",
		},
		Fallback:     true,
		Authenticate: a.authenticate, WriteError: a.writeError,
	}
	for _, rt := range a.routes() {
		if err := a.validator.Add(rt.method, rt.path); err != nil {
			return fmt.Errorf("e2b: %w", err)
		}
		snapshot := ""
		if strings.Contains(rt.path, ":templateID") {
			snapshot = "templateID"
		}
		v.Routes = append(v.Routes, edge.Route{
			Method: rt.method, Path: rt.path, Locate: rt.locate, Snapshot: snapshot,
			Handlers: []gin.HandlerFunc{a.validateRoute(rt.path), rt.handler},
		})
	}
	for _, rt := range unserved {
		locate := edge.AnyNode
		if strings.Contains(rt.path, ":sandboxID") {
			locate = edge.Param("sandboxID")
		}
		v.Routes = append(v.Routes, edge.Route{
			Method: rt.method, Path: rt.path, Locate: locate, Unserved: true,
			Handlers: []gin.HandlerFunc{a.notServed},
		})
	}
	return r.Mount(v)
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
