package langsmith

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// The service proxy: a box's service_url is
//
//	<base>/service/<box id>/<port>/
//
// and everything under it is relayed to that TCP port on the box's
// loopback, the prefix cut off (/service/<id>/8000/a?b reaches the service
// as /a?b). Path-based rather than a host per box, so it works behind any
// single host name with no wildcard DNS; the price is that a service
// linking to absolute paths ("/static/x") leaves the prefix (it is sent
// as X-Forwarded-Prefix for services that can honour it).
//
// The credential is the service token, not an API key: in the
// X-Langsmith-Sandbox-Service-Token header (the SDKs' fetch helper), or
// once in the browser_url's langsmith_service_token query parameter, which
// is exchanged for a cookie scoped to the service's path and dropped from
// the URL by a redirect, so it stays out of history, logs and Referer.
const (
	servicePrefix     = "/service/:box/:port"
	serviceTokenQuery = "langsmith_service_token"
	// ServiceTokenHeader is the header the SDKs send the token in.
	ServiceTokenHeader = "X-Langsmith-Sandbox-Service-Token"
	serviceCookie      = "langsmith_service_token"
)

// proxyMethods are the methods relayed to a service.
var proxyMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// mountServiceProxy mounts the proxy, a vendor of its own: its routes
// skip API-key authentication (edge.Route.Passthrough) and are not in the
// spec (they are the box's service's API, not LangSmith's).
func (a *API) mountServiceProxy(r *edge.Router) error {
	v := edge.Vendor{
		Label: "langsmith-service", Owns: []string{"/service"},
		Authenticate: a.authenticate, WriteError: a.writeError,
	}
	for _, m := range proxyMethods {
		v.Routes = append(v.Routes, edge.Route{
			Method: m, Path: servicePrefix + "/*path", Locate: edge.Param("box"),
			// Bodies and answers of any size and length go through as
			// they come: no body limit, progress deadlines instead.
			Upload: true, Passthrough: true,
			Handlers: []gin.HandlerFunc{a.proxyService},
		})
	}
	return r.Mount(v)
}

// proxyService relays one request (or WebSocket) to the box's port.
func (a *API) proxyService(c *gin.Context) {
	port, err := strconv.Atoi(c.Param("port"))
	if err != nil || port < 1 || port > 65535 {
		a.writeError(c, core.Errorf(core.ErrNotFound, "no service at %s", c.Request.URL.Path))
		return
	}
	box := c.Param("box")
	if tok := c.Query(serviceTokenQuery); tok != "" {
		a.exchangeToken(c, box, port, tok)
		return
	}
	tok := c.GetHeader(ServiceTokenHeader)
	if tok == "" {
		if ck, err := c.Request.Cookie(serviceCookie); err == nil {
			tok = ck.Value
		}
	}
	t, err := a.serviceURLs.Open(ctx(c), box, port, tok)
	if err != nil {
		a.writeError(c, err)
		return
	}
	a.relay(c, t, port)
}

// exchangeToken checks a browser_url's token, sets it as the cookie of the
// service's path and redirects to the same URL without it.
func (a *API) exchangeToken(c *gin.Context, box string, port int, tok string) {
	if _, err := a.serviceURLs.Open(ctx(c), box, port, tok); err != nil {
		a.writeError(c, err)
		return
	}
	scope := "/service/" + box + "/" + strconv.Itoa(port) + "/"
	http.SetCookie(c.Writer, &http.Cookie{
		Name: serviceCookie, Value: tok, Path: scope, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https",
	})
	u := *c.Request.URL
	q := u.Query()
	q.Del(serviceTokenQuery)
	u.RawQuery = q.Encode()
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusFound, u.RequestURI())
}

// relay proxies the request to port of t's sandbox, streaming both bodies
// and, for an upgrade (WebSocket), splicing the two connections once the
// service answers 101 (httputil.ReverseProxy does both). Each request
// dials its own connection: the box may move or stop between requests.
func (a *API) relay(c *gin.Context, t *core.Target, port int) {
	prefix := "/service/" + c.Param("box") + "/" + c.Param("port")
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return a.serviceURLs.Dial(ctx, t, port)
		},
		DisableKeepAlives:  true,
		DisableCompression: true,
	}
	var dialErr error
	p := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL = serviceTarget(r.In.URL, port)
			r.Out.Host = r.In.Host
			// What a front end (or the node that forwarded the call) said
			// about the client goes on; Rewrite drops these headers.
			for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if v := r.In.Header.Values(h); len(v) > 0 {
					r.Out.Header[h] = v
				}
			}
			if r.Out.Header.Get("X-Forwarded-Proto") == "" {
				r.SetXForwarded()
			}
			r.Out.Header.Set("X-Forwarded-Prefix", prefix)
			// The credential is snapgate's, not the service's.
			r.Out.Header.Del(ServiceTokenHeader)
			dropCookie(r.Out, serviceCookie)
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			dialErr = err
		},
	}
	p.ServeHTTP(c.Writer, c.Request)
	transport.CloseIdleConnections()
	if dialErr == nil {
		return
	}
	if c.Writer.Written() {
		panic(http.ErrAbortHandler) // cut mid-answer: drop the connection
	}
	var ce *core.Error
	if !errors.As(dialErr, &ce) {
		dialErr = core.WithCause(edge.ErrBadGateway, dialErr, "the service on port %d did not answer", port)
	}
	a.writeError(c, dialErr)
}

// serviceTarget is in's URL on the box's port, the proxy's prefix
// (/service/<box>/<port>) cut off the path as the client escaped it, so
// an escaped '/' (%2F) in a segment stays one.
func serviceTarget(in *url.URL, port int) *url.URL {
	rest := ""
	if parts := strings.SplitN(in.EscapedPath(), "/", 5); len(parts) == 5 {
		rest = parts[4]
	}
	out := &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port), RawQuery: in.RawQuery}
	if p, err := url.PathUnescape("/" + rest); err == nil {
		out.Path, out.RawPath = p, "/"+rest
	} else {
		out.Path = "/" + rest
	}
	return out
}

// dropCookie removes cookie name from r's Cookie header, keeping the
// service's own cookies.
func dropCookie(r *http.Request, name string) {
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, ck := range cookies {
		if ck.Name != name {
			r.AddCookie(ck)
		}
	}
}
