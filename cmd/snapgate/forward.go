package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/e2b/envd"
	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/adapters/langsmith"
	"github.com/snapgate/snapgate/core"
)

// forwardedHeader marks a request one node proxied to another; its value
// is the sending node. A request carrying it is always answered where it
// arrives, so a disagreement between nodes can never bounce a call around.
const forwardedHeader = "X-Snapgate-Forwarded"

// forwarder sends calls to the node that must answer them: calls about a
// sandbox to the live node that holds it, creates to the node placement
// chose. Every node accepts every call, so the URLs clients were given
// (LangSmith dataplane_url, E2B domain) work through any node. The
// adapters never learn about it: the owning node's adapters answer.
type forwarder struct {
	nodes     *core.Nodes
	sandboxes *core.Sandboxes
	keys      *core.Keys
	self      string
	log       *slog.Logger
	proxies   sync.Map // node address -> *httputil.ReverseProxy
}

// handle is the gin middleware; it runs after routing, so c.FullPath is
// the matched route template.
func (f *forwarder) handle(c *gin.Context) {
	if c.GetHeader(forwardedHeader) != "" {
		return
	}
	addr, err := f.target(c)
	if err != nil {
		// Answer here: the local adapter reports what it sees, in its
		// vendor's shape; the cause is worth a log line.
		f.log.WarnContext(c.Request.Context(), "find the node of a request", "route", c.FullPath(), "err", err)
		return
	}
	if addr == "" {
		return
	}
	proxy, err := f.proxy(addr)
	if err != nil {
		f.log.ErrorContext(c.Request.Context(), "bad node address", "address", addr, "err", err)
		return
	}
	proxy.ServeHTTP(c.Writer, c.Request)
	c.Abort()
}

// target is the address to proxy the request to, or "" to answer here.
func (f *forwarder) target(c *gin.Context) (string, error) {
	ctx, route := c.Request.Context(), c.FullPath()
	if isCreate(c.Request.Method, route) {
		vcpus, mem := f.requestedSize(c, route)
		n, err := f.nodes.Place(ctx, vcpus, mem)
		if err != nil || n.Name == f.self {
			// No room anywhere: this node's create answers the vendor's
			// quota error.
			return "", nil
		}
		return n.Address, nil
	}
	tenant, ref := f.sandboxRef(c, route)
	if ref == "" {
		return "", nil
	}
	sb, err := f.sandboxes.Locate(ctx, tenant, ref)
	if errors.Is(err, core.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return f.nodes.Forward(ctx, sb.Node)
}

// requestedSize is the vCPUs and memory a create asks for: LangSmith's
// body may name them (vcpus, mem_bytes); E2B's sizes come with the
// template, so its creates are placed with the default size. The body is
// put back for the handler (the body limit already bounds it).
func (f *forwarder) requestedSize(c *gin.Context, route string) (int, int64) {
	vcpus, mem := f.sandboxes.DefaultSize()
	if !strings.HasSuffix(route, "/boxes") || c.Request.Body == nil {
		return vcpus, mem
	}
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		// Too large, or cut off: the handler reads the same error.
		c.Request.Body = io.NopCloser(io.MultiReader(bytes.NewReader(raw), errReader{err}))
		return vcpus, mem
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(raw))
	var size struct {
		VCPUs    int   `json:"vcpus"`
		MemBytes int64 `json:"mem_bytes"`
	}
	if json.Unmarshal(raw, &size) == nil {
		if size.VCPUs > 0 {
			vcpus = size.VCPUs
		}
		if size.MemBytes > 0 {
			mem = size.MemBytes
		}
	}
	return vcpus, mem
}

// isCreate reports whether route creates a sandbox (E2B v1 and v2,
// LangSmith boxes under each prefix).
func isCreate(method, route string) bool {
	if method != http.MethodPost {
		return false
	}
	if route == "/sandboxes" || route == "/v2/sandboxes" {
		return true
	}
	for _, p := range langsmith.Prefixes {
		if route == p+"/boxes" {
			return true
		}
	}
	return false
}

// sandboxRef names the sandbox a request is about: an id (any tenant, ids
// are global) or, for LangSmith's box routes, a name within the caller's
// tenant. ref "" means the request is about no single sandbox.
func (f *forwarder) sandboxRef(c *gin.Context, route string) (tenant, ref string) {
	switch {
	case envd.Owns(route):
		return "", envd.SandboxID(c.Request)
	case c.Param("sandboxID") != "":
		return "", c.Param("sandboxID")
	case strings.HasPrefix(route, "/dataplane/:box"):
		return "", c.Param("box")
	case c.Param("box_name") != "":
		// Boxes are named per tenant: only the key says which tenant. A
		// bad key is the local adapter's to refuse.
		p, err := f.keys.Authenticate(c.Request.Context(), edge.APIKey(c), c.GetHeader("X-Tenant-Id"))
		if err != nil {
			return "", ""
		}
		return p.TenantID, c.Param("box_name")
	}
	return "", ""
}

// proxy returns the reverse proxy to addr, made once per address. The
// client's Host is kept, so the owning node routes envd hosts and writes
// the URLs it returns (dataplane_url, domain) as the client sees them.
func (f *forwarder) proxy(addr string) (*httputil.ReverseProxy, error) {
	if p, ok := f.proxies.Load(addr); ok {
		return p.(*httputil.ReverseProxy), nil
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, err
	}
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
			r.Out.Header.Set(forwardedHeader, f.self)
		},
		// Streams (command output, watchers, downloads) reach the client
		// as they are written.
		FlushInterval: -1,
		ErrorHandler:  f.proxyError,
	}
	actual, _ := f.proxies.LoadOrStore(addr, p)
	return actual.(*httputil.ReverseProxy), nil
}

// proxyError answers a request the owning node did not: it died between
// its last heartbeat and now, or is unreachable from here. The client sees
// a 502 in its vendor's shape and may retry; once the node's heartbeat is
// stale its sandboxes read as lost and are answered here.
func (f *forwarder) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	f.log.WarnContext(r.Context(), "forward to owning node", "err", err)
	msg := "the node holding this sandbox did not answer; retry shortly"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadGateway)
	if langsmith.Owns(r.URL.Path) {
		_, _ = w.Write([]byte(`{"detail":{"error":"BadGateway","message":"` + msg + `"}}`))
		return
	}
	_, _ = w.Write([]byte(`{"code":502,"message":"` + msg + `"}`))
}

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
