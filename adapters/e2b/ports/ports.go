// Package ports serves E2B's sandbox port proxy: a request for host
// "<port>-<sandboxID>.<domain>" (the SDKs' getHost, behind a wildcard DNS
// name and certificate), or carrying the headers E2b-Sandbox-Id and
// E2b-Sandbox-Port (one base URL for every sandbox, as E2B_SANDBOX_URL
// does for envd), is sent to that TCP port inside the sandbox as it is:
// bodies stream both ways, WebSocket and other upgrades pass through.
// envd's port (49983) is not served here but by package envd. Requests are
// claimed before path routing (edge.Vendor.Claims): their paths are the
// sandbox's own. Errors have the shapes of E2B's proxy (JSON, or an HTML
// page for a browser). It holds no business rules: core opens the sandbox
// (running, traffic token) and dials its port.
// Imports: core, adapters/edge, gin.
package ports

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// Options wires the adapter to core.
type Options struct {
	Dataplane *core.Dataplane
	Logger    *slog.Logger
}

// API is the port proxy.
type API struct {
	dp        *core.Dataplane
	log       *slog.Logger
	transport *http.Transport
}

// New builds the adapter.
func New(opt Options) (*API, error) {
	if opt.Dataplane == nil {
		return nil, fmt.Errorf("ports: dataplane is required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	a := &API{dp: opt.Dataplane, log: opt.Logger}
	a.transport = newTransport(a.dp)
	return a, nil
}

// What E2B's SDKs and proxy name: envd's port, the routing headers and the
// header carrying a private sandbox's traffic token.
const (
	envdPort     = "49983"
	headerID     = "E2b-Sandbox-Id"
	headerPort   = "E2b-Sandbox-Port"
	headerToken  = "e2b-traffic-access-token"
	sandboxKey   = "ports_sandbox"
	portKey      = "ports_port"
	maxPortValue = 65535
)

// methods are the methods proxied: every one net/http names (an unknown
// method is answered the proxy's not-found).
var methods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodTrace,
}

// Mount claims the port traffic on r. The sandbox a request is for is
// read before it is located, so a node that does not hold it forwards it
// whole to the one that does (as envd's calls are).
func (a *API) Mount(r *edge.Router) error {
	v := edge.Vendor{
		Label: "e2b-ports", Claims: Claims,
		Authenticate: a.route, WriteError: a.writeError,
	}
	sandbox := edge.Func(func(c *gin.Context) string { return c.GetString(sandboxKey) })
	for _, m := range methods {
		v.Routes = append(v.Routes, edge.Route{
			Method: m, Path: "/*path", Locate: sandbox,
			// Bodies go to the sandbox as they arrive and may be as large
			// and last as long as its server allows: no body limit, only
			// progress deadlines.
			Upload:   true,
			Handlers: []gin.HandlerFunc{a.open, a.proxy},
		})
	}
	return r.Mount(v)
}

// Claims reports whether req is port traffic: E2b-Sandbox-Port names a
// port other than envd's, or, without routing headers, the Host is
// "<port>-<id>.…" with a port other than envd's. Everything else (envd by
// header or host, the platform API) is routed by path.
func Claims(req *http.Request) bool {
	if p := req.Header.Get(headerPort); p != "" {
		return p != envdPort
	}
	if req.Header.Get(headerID) != "" {
		return false
	}
	_, port, ok := fromHost(req.Host)
	return ok && port != envdPort
}

// fromHost parses "<port>-<sandboxID>[-…].<domain>[:port]". The first
// label must be digits, a dash and a plausible sandbox id, so that no
// host of the platform API is taken for a sandbox's.
func fromHost(host string) (id, port string, ok bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	label, _, dotted := strings.Cut(host, ".")
	port, rest, dashed := strings.Cut(label, "-")
	if !dotted || !dashed || port == "" || strings.Trim(port, "0123456789") != "" {
		return "", "", false
	}
	id, _, _ = strings.Cut(rest, "-") // E2B's legacy "<id>-<client id>"
	return id, port, validID(id)
}

// validID: E2B's sandbox ids are lower-case letters and digits.
func validID(id string) bool {
	return id != "" && len(id) <= 64 && strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789") == ""
}

// route reads the sandbox and port a claimed request is for: the routing
// headers, else the Host. Malformed ones are answered 400 as E2B's proxy
// does.
func (a *API) route(c *gin.Context) {
	id, port := c.GetHeader(headerID), c.GetHeader(headerPort)
	if port == "" {
		id, port, _ = fromHost(c.Request.Host)
	}
	switch {
	case id == "":
		a.writeError(c, badRoute("missing header"))
		return
	case !validID(id):
		a.writeError(c, badRoute("Invalid sandbox ID"))
		return
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > maxPortValue {
		a.writeError(c, badRoute("Invalid sandbox port"))
		return
	}
	c.Set(sandboxKey, id)
	c.Set(portKey, n)
}

// open authorizes the request for the sandbox's ports: it must be
// running, and carry its traffic token if its ports are private.
func (a *API) open(c *gin.Context) {
	t, err := a.dp.OpenForTraffic(ctx(c), c.GetString(sandboxKey), c.GetHeader(headerToken))
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.Set(targetKey, t)
}

// ctx is what handlers pass to core: the request's context, never gin's.
func ctx(c *gin.Context) context.Context { return c.Request.Context() }
