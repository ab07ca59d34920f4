package edge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// Cluster tells which node answers a call about a sandbox
// (*core.Sandboxes).
type Cluster interface {
	// Where returns a *core.ElsewhereError naming the live node that
	// holds the sandbox ref names (an id, or a name in the tenant of
	// ctx's principal), nil when this node answers.
	Where(ctx context.Context, ref string) error
}

// forwardedHeader marks a request one node proxied to another; its value
// is the sending node. A request carrying it is answered where it arrives
// (core.ForwardedHere), so nodes that disagree cannot bounce it around.
const forwardedHeader = "X-Snapgate-Forwarded"

// keptKey holds the body of a Places route, for a create sent elsewhere.
const keptKey = "edge_kept_body"

// locateStep sends the call to the node that must answer it: for a route
// about one sandbox, the live node holding it, asked of the cluster after
// authentication (a name is read in the caller's tenant). A create's body
// is kept, in case core places it on another node.
func (r *Router) locateStep(m *mount, rt Route) gin.HandlerFunc {
	return func(c *gin.Context) {
		ref := rt.Locate.ref(c)
		if rt.Locate.kind == locateFunc {
			c.Set(sandboxKey, ref)
		}
		switch {
		case c.GetHeader(forwardedHeader) != "":
			c.Request = c.Request.WithContext(core.ForwardedHere(c.Request.Context()))
			// Said to this node only: a proxy to a sandbox's server must
			// not pass the forwarding node's name on.
			c.Request.Header.Del(forwardedHeader)
			return
		case rt.Locate.kind == locatePlaces:
			keepBody(c)
			return
		case rt.Locate.kind == locateAnyNode || r.opt.Cluster == nil:
			return
		}
		err := r.opt.Cluster.Where(c.Request.Context(), ref)
		var there *core.ElsewhereError
		switch {
		case errors.As(err, &there):
			m.proxy(c, there)
		case err != nil:
			// Answered here: the handler reports what this node sees,
			// in the vendor's shape; the cause is worth a line.
			r.opt.Logger.WarnContext(c.Request.Context(), "find the node of a request", "route", c.FullPath(), "err", err)
		}
	}
}

// keepBody reads the body into memory (the body limit bounds it) and puts
// it back for the handler.
func keepBody(c *gin.Context) {
	body := c.Request.Body
	if body == nil || body == http.NoBody {
		c.Set(keptKey, []byte{})
		return
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		// Too large, or cut off: the handler reads the same error (and
		// nothing is kept: such a call never reaches placement).
		c.Request.Body = io.NopCloser(io.MultiReader(bytes.NewReader(raw), errReader{err}))
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(raw))
	c.Set(keptKey, raw)
}

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// Forward sends the request to the node err names, when err is a
// *core.ElsewhereError on a Places route (core placed a create on another
// node), and reports whether it did: the answer is that node's. Vendors'
// error writers call it first. Anywhere else it reports false and the
// writer answers err as the internal error it then is.
func Forward(c *gin.Context, err error) bool {
	var there *core.ElsewhereError
	if !errors.As(err, &there) {
		return false
	}
	raw, kept := c.Get(keptKey)
	v, mounted := c.Get(vendorKey)
	m, _ := v.(*mount)
	if !kept || !mounted || m == nil || c.Writer.Written() {
		return false
	}
	body := raw.([]byte)
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	c.Request.ContentLength, c.Request.TransferEncoding = int64(len(body)), nil
	m.proxy(c, there)
	return true
}

// proxy answers c with the answer of the node there names. The client's
// Host is kept, so that node routes envd hosts and writes the URLs it
// returns (dataplane_url, domain) as the client sees them; so is the
// request id, so both nodes log the call under one id.
func (m *mount) proxy(c *gin.Context, there *core.ElsewhereError) {
	defer c.Abort()
	u, err := url.Parse(there.Address)
	if err != nil {
		m.v.WriteError(c, core.WithCause(ErrBadGateway, err, "the node serving this call has a bad address"))
		return
	}
	rid := RequestID(c)
	p := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
			// What the front end (an ingress ending TLS) said about the
			// client goes on as it was: the owning node writes https
			// dataplane URLs from X-Forwarded-Proto. Rewrite drops these
			// headers, and SetXForwarded would describe this hop instead.
			for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if v := r.In.Header.Values(h); len(v) > 0 {
					r.Out.Header[h] = v
				}
			}
			if r.In.TLS != nil && r.Out.Header.Get("X-Forwarded-Proto") == "" {
				r.Out.Header.Set("X-Forwarded-Proto", "https")
			}
			r.Out.Header.Set(forwardedHeader, m.router.opt.Node)
			if rid != "" {
				r.Out.Header.Set("X-Request-Id", rid)
			}
		},
		// Streams (command output, watchers, downloads) reach the client
		// as they are written.
		FlushInterval: -1,
		ErrorHandler: func(_ http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return // the client went away
			}
			// The node died since its last heartbeat, or is unreachable
			// from here; once its heartbeat is stale its sandboxes read as
			// lost and are answered here.
			if rid != "" {
				c.Header("X-Request-Id", rid)
			}
			m.v.WriteError(c, core.WithCause(ErrBadGateway, err,
				"the node serving this call did not answer; retry shortly"))
		},
	}
	// The answer is the other node's, headers included (its request id
	// is this one).
	clear(c.Writer.Header())
	p.ServeHTTP(c.Writer, c.Request)
}
