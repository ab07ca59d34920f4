package edge

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// Vendor is one API as its adapter describes it to Router.Mount: its
// routes and the hooks that speak its dialect. The edge does the rest the
// same way for every vendor (request ids, panics, body limits and stream
// deadlines, cluster forwarding, unknown routes), and reaches the client
// only through WriteError.
type Vendor struct {
	// Label names the API in metrics and logs.
	Label string
	// Owns lists the path prefixes whose unknown routes this vendor
	// answers: a prefix covers itself and what lies below it ("/files"
	// covers /files/x, not /filesx). The longest match wins.
	Owns []string
	// Fallback: this vendor also answers unknown routes no vendor owns.
	Fallback bool
	// Claims, when set, takes requests before they are routed by path (a
	// port proxy routed by Host or headers, whose paths are the sandbox's
	// own and may be any, even one another vendor serves): a request it
	// reports true for is matched against this vendor's routes only, and
	// this vendor's routes are matched for no other request. Claims run
	// in mount order, on every request: keep them cheap.
	Claims func(*http.Request) bool
	// Authenticate resolves the caller into the request's context (a
	// core.Principal), or writes the failure with WriteError and aborts.
	// It runs before the call is located, so names can be read in the
	// caller's tenant.
	Authenticate gin.HandlerFunc
	// WriteError is the vendor's single error writer: it answers err in
	// the vendor's shape and aborts. Core kinds and this package's
	// (ErrTooLarge, ErrBadGateway) must all be mapped. It calls Forward
	// first, so a create placed on another node is sent there.
	WriteError func(*gin.Context, error)
	Routes     []Route
}

// Route is one operation of a vendor.
type Route struct {
	Method, Path string // gin syntax (":name" parameters)
	// Locate says which node answers the route in a cluster. It has no
	// default: Mount refuses a route without one, so a new route cannot
	// be answered by the wrong node unnoticed.
	Locate Locator
	// Snapshot names the path parameter that names a snapshot, for the
	// access log; "" for none.
	Snapshot string
	// Stream: the body or the answer may rightly last hours (streams,
	// downloads): progress deadlines replace the server's read timeout.
	Stream bool
	// Upload: the body goes to a sandbox's disk as it arrives, never into
	// memory: no body limit (the disk is one). Implies Stream.
	Upload bool
	// Unserved: an operation of the vendor's API that snapgate does not
	// serve yet. It is mounted like any route (authenticated, located), so
	// that its handler answers ErrNotServed (NotServed) rather than the
	// unknown-route 404; it has no operation in the vendor's spec, and
	// tests that check answers against the spec skip it (IsUnserved).
	Unserved bool
	// Passthrough: the route carries its own credential (a token the
	// handler checks), so the vendor's Authenticate does not run: no
	// principal is set, and the route is located by an id alone.
	Passthrough bool
	// Prepare runs before any step of the mount that may fail, for what
	// WriteError needs to know (the protocol a route answers in).
	Prepare []gin.HandlerFunc
	// Handlers run once the caller is authenticated and the call located
	// here: validation, then the handler.
	Handlers []gin.HandlerFunc
}

type locateKind int

const (
	locateUnset locateKind = iota
	locateAnyNode
	locatePlaces
	locateParam
	locateFunc
)

// Locator says which node answers a route in a cluster.
type Locator struct {
	kind  locateKind
	param string
	fn    func(*gin.Context) string
}

var (
	// AnyNode: the route is about no single sandbox (lists, snapshots,
	// registries): every node answers it from the shared store.
	AnyNode = Locator{kind: locateAnyNode}
	// Places: the route creates a sandbox. Core's placement may answer
	// that it starts on another node (a *core.ElsewhereError, which the
	// vendor's error writer hands to Forward); the body is kept, so the
	// call is sent there whole.
	Places = Locator{kind: locatePlaces}
)

// Param: the route is about the sandbox its path parameter name names (an
// id, or a name in the caller's tenant). Mount checks the path has it.
func Param(name string) Locator { return Locator{kind: locateParam, param: name} }

// Func: the route is about the sandbox fn names, read from elsewhere than
// the path (envd's header or host) once the caller is authenticated; ""
// names none.
func Func(fn func(*gin.Context) string) Locator { return Locator{kind: locateFunc, fn: fn} }

// ref is the sandbox the request is about, "" for none.
func (l Locator) ref(c *gin.Context) string {
	switch l.kind {
	case locateParam:
		return c.Param(l.param)
	case locateFunc:
		return l.fn(c)
	}
	return ""
}

// MountedRoute is a route as mounted, for tests that walk every route.
type MountedRoute struct {
	Vendor, Method, Path string
	// AnyNode and Places are the route's Locator; otherwise the route is
	// about one sandbox, named by the path parameter Param or, when
	// Param is "", as the vendor's Func reads it.
	AnyNode, Places bool
	Param           string
	// Unserved: the route answers 501 (Route.Unserved).
	Unserved bool
}

// mount is one vendor on a router.
type mount struct {
	v      Vendor
	router *Router
}

// checkRoute refuses a route whose location is not declared or names a
// parameter its path lacks.
func checkRoute(rt Route) error {
	params := pathParams(rt.Path)
	switch l := rt.Locate; {
	case l.kind == locateUnset:
		return errors.New("no Locate: say which node answers it (edge.AnyNode, edge.Places, edge.Param or edge.Func)")
	case l.kind == locateParam && !slices.Contains(params, l.param):
		return fmt.Errorf("Locate names parameter %q, which the path lacks", l.param)
	case l.kind == locateFunc && l.fn == nil:
		return errors.New("Locate is edge.Func(nil)")
	}
	if rt.Snapshot != "" && !slices.Contains(params, rt.Snapshot) {
		return fmt.Errorf("Snapshot names parameter %q, which the path lacks", rt.Snapshot)
	}
	if len(rt.Handlers) == 0 {
		return errors.New("no handler")
	}
	return nil
}

// pathParams lists the names of a gin path's parameters.
func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if len(seg) > 1 && (seg[0] == ':' || seg[0] == '*') {
			out = append(out, seg[1:])
		}
	}
	return out
}

// chain is the handlers of one route: the mount's steps around the
// vendor's hooks and the route's own handlers.
func (m *mount) chain(rt Route) []gin.HandlerFunc {
	chain := []gin.HandlerFunc{m.enter(rt), m.recovery}
	chain = append(chain, rt.Prepare...)
	chain = append(chain, m.router.bodyStep(m, rt))
	if !rt.Passthrough {
		chain = append(chain, m.v.Authenticate)
	}
	chain = append(chain, m.router.locateStep(m, rt))
	return append(chain, rt.Handlers...)
}

// gin context keys the mount sets.
const (
	labelKey    = "edge_vendor"
	sandboxKey  = "edge_sandbox"
	snapshotKey = "edge_snapshot"
	vendorKey   = "edge_mount"
	unservedKey = "edge_unserved"
	passKey     = "edge_passthrough"
)

// enter labels the request with its vendor and what its path names, and
// gives it a request id.
func (m *mount) enter(rt Route) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(labelKey, m.v.Label)
		c.Set(vendorKey, m)
		if rt.Locate.kind == locateParam {
			c.Set(sandboxKey, c.Param(rt.Locate.param))
		}
		if rt.Snapshot != "" {
			c.Set(snapshotKey, c.Param(rt.Snapshot))
		}
		if rt.Unserved {
			c.Set(unservedKey, true)
		}
		if rt.Passthrough {
			c.Set(passKey, true)
		}
		AssignRequestID(c)
	}
}

// recovery answers a panic as an internal error in the vendor's shape (the
// writer logs it, with the stack).
func (m *mount) recovery(c *gin.Context) {
	recoverAnswer(c, func(p any) {
		m.v.WriteError(c, fmt.Errorf("panic in %s %s: %v\n%s", c.Request.Method, c.FullPath(), p, debug.Stack()))
	})
}

// recoverAnswer runs the rest of c's chain and hands a panic to answer.
// http.ErrAbortHandler goes on up: it means the answer was cut (a
// forwarded one whose node went away), and net/http must drop the
// connection rather than end the answer as if it were whole.
func recoverAnswer(c *gin.Context, answer func(p any)) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler {
			panic(p)
		}
		answer(p)
	}()
	c.Next()
}

// notFound answers a route no vendor serves, in the shape of the vendor
// that owns the path (else the fallback's).
func (r *Router) notFound(c *gin.Context) {
	m := r.owner(c.Request.URL.Path)
	if m != nil {
		c.Set(labelKey, m.v.Label)
	} else if m = r.fallback; m == nil {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	AssignRequestID(c)
	m.v.WriteError(c, core.Errorf(core.ErrNotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
}

// owner is the mount owning path by its longest prefix, nil for none.
func (r *Router) owner(path string) *mount {
	var best *mount
	bestLen := -1
	for _, m := range r.mounts {
		for _, p := range m.v.Owns {
			p = strings.TrimSuffix(p, "/")
			if (path == p || strings.HasPrefix(path, p+"/")) && len(p) > bestLen {
				best, bestLen = m, len(p)
			}
		}
	}
	return best
}

// Label is the label of the vendor whose mount answered c, "" for routes
// of no vendor (health, metrics) and unknown paths no vendor owns.
func Label(c *gin.Context) string { return c.GetString(labelKey) }

// Resources are the sandbox and snapshot the request names, as the client
// named them (an id, or a name), "" when it names none: for access logs.
func Resources(c *gin.Context) (sandbox, snapshot string) {
	return c.GetString(sandboxKey), c.GetString(snapshotKey)
}

// IsUnserved tells whether c is a call of a route mounted Unserved.
func IsUnserved(c *gin.Context) bool { return c.GetBool(unservedKey) }

// IsPassthrough tells whether c is a call of a route mounted Passthrough.
func IsPassthrough(c *gin.Context) bool { return c.GetBool(passKey) }

// NotServed is the error an Unserved route answers: ErrNotServed, naming
// the operation as its vendor's spec writes it ("GET
// /sandboxes/{sandboxID}/metrics is not served by this server yet").
func NotServed(method, ginPath string) error {
	segs := strings.Split(ginPath, "/")
	for i, seg := range segs {
		if len(seg) > 1 && (seg[0] == ':' || seg[0] == '*') {
			segs[i] = "{" + seg[1:] + "}"
		}
	}
	return core.Errorf(ErrNotServed, "%s %s is not served by this server yet", method, strings.Join(segs, "/"))
}
