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
	// ServiceURLs shares boxes' ports (service-url routes and the
	// /service proxy); nil leaves those routes answering 501.
	ServiceURLs *core.ServiceURLs
}

// API is the LangSmith adapter.
type API struct {
	snapshots  *core.Snapshots
	sandboxes  *core.Sandboxes
	publicURL  string
	registries *core.Registries
	keys       *core.Keys
	dataplane  *core.Dataplane
	// serviceURLs is nil when service URLs are not served.
	serviceURLs *core.ServiceURLs
	log         *slog.Logger
	validator   *edge.Validator
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
	a.serviceURLs = opt.ServiceURLs
	if opt.Validate {
		a.validator = edge.NewValidator(opt.Spec)
	}
	return a, nil
}

type route struct {
	method, path string // path relative to the prefix, gin syntax
	locate       edge.Locator
	handler      gin.HandlerFunc
}

func (a *API) routes() []route {
	box, anyNode := edge.Param("box_name"), edge.AnyNode
	rs := []route{
		{"POST", "/snapshots", anyNode, a.createSnapshot},
		{"GET", "/snapshots", anyNode, a.listSnapshots},
		{"GET", "/snapshots/:snapshot_ref", anyNode, a.getSnapshot},
		{"DELETE", "/snapshots/:snapshot_ref", anyNode, a.deleteSnapshot},
		{"POST", "/registries", anyNode, a.createRegistry},
		{"GET", "/registries", anyNode, a.listRegistries},
		{"GET", "/registries/:registry_name", anyNode, a.getRegistry},
		{"PATCH", "/registries/:registry_name", anyNode, a.updateRegistry},
		{"DELETE", "/registries/:registry_name", anyNode, a.deleteRegistry},
		{"POST", "/boxes", edge.Places, a.createBox},
		{"GET", "/boxes", anyNode, a.listBoxes},
		{"GET", "/boxes/:box_name", box, a.getBox},
		{"PATCH", "/boxes/:box_name", box, a.updateBox},
		{"DELETE", "/boxes/:box_name", box, a.deleteBox},
		{"GET", "/boxes/:box_name/status", box, a.getBoxStatus},
		{"POST", "/boxes/:box_name/start", box, a.startBox},
		{"POST", "/boxes/:box_name/stop", box, a.stopBox},
		{"POST", "/boxes/:box_name/snapshot", box, a.captureBox},
	}
	if a.serviceURLs != nil {
		rs = append(rs,
			route{"POST", "/boxes/:box_name/service-url", box, a.generateServiceURL},
			route{"GET", "/boxes/:box_name/service-urls", box, a.listServiceURLs},
			route{"DELETE", "/boxes/:box_name/service-urls", box, a.deleteServiceURL},
		)
	}
	return rs
}

// unserved lists the control-plane routes the langsmith JS SDK (0.12)
// calls that snapgate does not serve yet, relative to the prefix. Each
// answers 501 in LangSmith's shape once the caller is authenticated and,
// for a box's route, once the box is found (another tenant's is 404 as
// usual), never the unknown-route 404. They are not in the spec.
var unserved = []unservedRoute{
	{"POST", "/boxes/:box_name/download-url"},    // generateDownloadURL
	{"GET", "/snapshots-by-name/:snapshot_name"}, // snapshots.retrieveByName
}

type unservedRoute struct{ method, path string }

// serviceURLRoutes answer 501 too when the adapter has no ServiceURLs.
var serviceURLRoutes = []unservedRoute{
	{"POST", "/boxes/:box_name/service-url"},    // serviceUrl, generateServiceURL
	{"GET", "/boxes/:box_name/service-urls"},    // listServiceURLs
	{"DELETE", "/boxes/:box_name/service-urls"}, // deleteServiceURL
}

// unservedRoutes is unserved, plus the service-url routes when service
// URLs are not served.
func (a *API) unservedRoutes() []unservedRoute {
	if a.serviceURLs == nil {
		return append(append([]unservedRoute{}, unserved...), serviceURLRoutes...)
	}
	return unserved
}

// notServed answers an unserved route: 501 naming it, after finding the
// box its path names, if any.
func (a *API) notServed(c *gin.Context) {
	if name := c.Param("box_name"); name != "" {
		if _, err := a.sandboxes.Get(ctx(c), name); err != nil {
			a.writeError(c, err)
			return
		}
	}
	a.writeError(c, edge.NotServed(c.Request.Method, c.FullPath()))
}

// Mount mounts every route under every prefix on r, then the dataplane
// when the adapter has one. It fails when a route has no operation in the
// spec, so the spec always covers what is served.
func (a *API) Mount(r *edge.Router) error {
	v := edge.Vendor{Label: "langsmith", Owns: owned(), Authenticate: a.authenticate, WriteError: a.writeError}
	for _, rt := range a.routes() {
		if a.validator != nil {
			if err := a.validator.Add(rt.method, specPrefix+rt.path); err != nil {
				return fmt.Errorf("langsmith: %w", err)
			}
		}
		snapshot := ""
		if strings.Contains(rt.path, ":snapshot_ref") {
			snapshot = "snapshot_ref"
		}
		for _, prefix := range Prefixes {
			v.Routes = append(v.Routes, edge.Route{
				Method: rt.method, Path: prefix + rt.path, Locate: rt.locate, Snapshot: snapshot,
				Handlers: []gin.HandlerFunc{a.validate(rt.path), rt.handler},
			})
		}
	}
	for _, rt := range a.unservedRoutes() {
		locate, snapshot := edge.AnyNode, ""
		if strings.Contains(rt.path, ":box_name") {
			locate = edge.Param("box_name")
		}
		if strings.Contains(rt.path, ":snapshot_name") {
			snapshot = "snapshot_name"
		}
		for _, prefix := range Prefixes {
			v.Routes = append(v.Routes, edge.Route{
				Method: rt.method, Path: prefix + rt.path, Locate: locate, Snapshot: snapshot, Unserved: true,
				Handlers: []gin.HandlerFunc{a.notServed},
			})
		}
	}
	if err := r.Mount(v); err != nil {
		return err
	}
	if a.serviceURLs != nil {
		if err := a.mountServiceProxy(r); err != nil {
			return err
		}
	}
	return a.mountDataplane(r)
}

// owned lists the paths whose unknown routes answer in LangSmith's shape.
// E2B serves /v2/sandboxes itself, so there only LangSmith's own
// sub-trees count.
func owned() []string {
	var out []string
	for _, p := range Prefixes {
		if p != specPrefix {
			out = append(out, p)
		}
	}
	for _, sub := range []string{"/snapshots", "/snapshots-by-name", "/registries", "/boxes"} {
		out = append(out, specPrefix+sub)
	}
	return out
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
