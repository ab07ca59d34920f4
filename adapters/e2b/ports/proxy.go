package ports

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// targetKey holds the opened *core.Target.
const targetKey = "ports_target"

// dialKey carries the sandbox and port a proxied request dials.
type dialKey struct{}

type dialTarget struct {
	t    *core.Target
	port int
}

// newTransport reaches sandboxes' ports through core (their network
// namespace), never the host's network. Connections are not kept: a
// sandbox's servers come and go (and sandboxes pause), so each request
// dials, as E2B's proxy does toward sandboxes; compression and HTTP/2 are
// the client's and the sandbox's business, passed through untouched.
func newTransport(dp *core.Dataplane) *http.Transport {
	return &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			dt, ok := ctx.Value(dialKey{}).(dialTarget)
			if !ok {
				return nil, errors.New("ports: a dial without its sandbox")
			}
			return dp.DialPort(ctx, dt.t, dt.port)
		},
		DisableKeepAlives:  true,
		DisableCompression: true,
	}
}

// proxy sends the request to the sandbox's port and its answer back, both
// streamed (flushed as written); an Upgrade (WebSocket) is hijacked and
// spliced both ways by httputil.ReverseProxy. The Host is the client's, or
// the sandbox's request host mask (the client's then goes in
// X-Forwarded-Host), as E2B does.
func (a *API) proxy(c *gin.Context) {
	t := c.MustGet(targetKey).(*core.Target)
	port := c.GetInt(portKey)
	mask := t.Sandbox.Network.RequestHost(port)
	target := &url.URL{Scheme: "http", Host: net.JoinHostPort(t.Sandbox.ID, strconv.Itoa(port))}
	p := &httputil.ReverseProxy{
		Transport:     a.transport,
		FlushInterval: -1,
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			if mask != "" {
				r.Out.Header.Set("X-Forwarded-Host", r.In.Host)
				r.Out.Host = mask
			}
		},
		ErrorHandler: func(_ http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
				return // the client went away
			}
			a.writeError(c, portClosed(port, err))
		},
	}
	req := c.Request.WithContext(context.WithValue(ctx(c), dialKey{}, dialTarget{t: t, port: port}))
	p.ServeHTTP(c.Writer, req)
}
