package edge

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// Options configures a Router.
type Options struct {
	Logger *slog.Logger
	// BodyLimit bounds request bodies (ErrTooLarge beyond it), but
	// uploads'; 0 sets no limit.
	BodyLimit int64
	// Progress is how long a stream or upload may stall before it is cut
	// (Route.Stream); 0 sets no deadlines.
	Progress time.Duration
	// Cluster tells which node answers a call about a sandbox; nil: this
	// one, always.
	Cluster Cluster
	// Node is this node's name, sent with the calls it forwards.
	Node string
	// Outer wraps every request, mounted or not, outermost first
	// (metrics, access log): it sees the label and resources mounts set.
	Outer []gin.HandlerFunc
}

// Router is snapgate's HTTP front: a gin engine on which each vendor's API
// is mounted (Mount) beside routes of no vendor (health, metrics), which
// are added to the embedded engine directly.
type Router struct {
	*gin.Engine
	opt      Options
	mounts   []*mount
	fallback *mount
	mounted  []MountedRoute
	// claims are the vendors that take requests before path routing
	// (Vendor.Claims), each with an engine of its own.
	claims []claim
}

// claim is a vendor that takes the requests it claims, whatever their path.
type claim struct {
	claims func(*http.Request) bool
	engine *gin.Engine
}

// NewRouter returns a router with no vendor mounted.
func NewRouter(opt Options) *Router {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	r := &Router{Engine: newEngine(opt), opt: opt}
	r.NoRoute(r.notFound)
	return r
}

// newEngine is a gin engine with the router's outer steps.
func newEngine(opt Options) *gin.Engine {
	e := gin.New()
	// Names may hold '/', sent as %2F inside one path segment.
	e.UseRawPath = true
	e.UnescapePathValues = true
	e.Use(opt.Outer...)
	e.Use(recoverPlain(opt.Logger))
	return e
}

// ServeHTTP hands a request a vendor claims to that vendor's engine, and
// every other to path routing.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	for _, c := range r.claims {
		if c.claims(req) {
			c.engine.ServeHTTP(w, req)
			return
		}
	}
	r.Engine.ServeHTTP(w, req)
}

// Mount serves v's routes, each behind the same steps: vendor label,
// request id, panic recovery, body limit or stream deadlines,
// v.Authenticate, location (a call about a sandbox another node holds is
// proxied there), then the route's handlers. It refuses a vendor without
// its hooks and a route without a Locate.
func (r *Router) Mount(v Vendor) error {
	if v.Label == "" || v.Authenticate == nil || v.WriteError == nil {
		return errors.New("edge: a vendor needs a label, Authenticate and WriteError")
	}
	m := &mount{v: v, router: r}
	if v.Fallback {
		if r.fallback != nil {
			return fmt.Errorf("edge: %s and %s both answer unknown routes", r.fallback.v.Label, v.Label)
		}
		r.fallback = m
	}
	for _, rt := range v.Routes {
		if err := checkRoute(rt); err != nil {
			return fmt.Errorf("edge: %s route %s %s: %w", v.Label, rt.Method, rt.Path, err)
		}
	}
	handle := r.Handle
	if v.Claims != nil {
		// The vendor's routes live on an engine of their own, which only
		// the requests it claims reach; there, what none of its routes
		// matches is the vendor's not-found.
		e := newEngine(r.opt)
		e.NoRoute(func(c *gin.Context) {
			c.Set(labelKey, v.Label)
			AssignRequestID(c)
			v.WriteError(c, core.Errorf(core.ErrNotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
		})
		r.claims = append(r.claims, claim{claims: v.Claims, engine: e})
		handle = e.Handle
	}
	for _, rt := range v.Routes {
		handle(rt.Method, rt.Path, m.chain(rt)...)
		r.mounted = append(r.mounted, MountedRoute{
			Vendor: v.Label, Method: rt.Method, Path: rt.Path,
			AnyNode: rt.Locate.kind == locateAnyNode, Places: rt.Locate.kind == locatePlaces, Param: rt.Locate.param,
			Unserved: rt.Unserved,
		})
	}
	r.mounts = append(r.mounts, m)
	return nil
}

// Mounted lists every route Mount served, in order.
func (r *Router) Mounted() []MountedRoute { return r.mounted }

// recoverPlain answers a panic in a route of no vendor with a bare 500. It
// lets http.ErrAbortHandler go on up, as mounts do.
func recoverPlain(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		recoverAnswer(c, func(p any) {
			logger.ErrorContext(c.Request.Context(), "panic in handler", "route", c.FullPath(), "panic", p)
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"message": "internal error"})
		})
	}
}
