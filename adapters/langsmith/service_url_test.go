package langsmith

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// serveInBox answers HTTP on port of the test box (the fake engine's
// loopback): every path answers "<method> <path>?<query> token=<header>"
// (the header the service sees, which must be empty), and /ws echoes
// WebSocket messages.
func serveInBox(t *testing.T, e *dataplaneEnv, port uint16) {
	t.Helper()
	l := e.env.DataEngine.Listen(e.id, port)
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo:"), msg...)); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" token="+r.Header.Get(ServiceTokenHeader)+
			" cookie="+r.Header.Get("Cookie")+" body="+string(body))
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); _ = l.Close() })
}

// serviceURL is a served service-url answer.
type serviceURL struct{ service, browser, token, expires string }

func issue(t *testing.T, e *dataplaneEnv, key, box, body string) (reply, serviceURL) {
	t.Helper()
	r := call(t, e.srv, "POST", "/api/v2/sandboxes/boxes/"+box+"/service-url", key, body)
	s := func(k string) string { v, _ := r.body[k].(string); return v }
	return r, serviceURL{s("service_url"), s("browser_url"), s("token"), s("expires_at")}
}

// fetch sends a request through the proxy; token "" sends none.
func fetch(t *testing.T, method, u, token string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set(ServiceTokenHeader, token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// A minted token opens the port through service_url (the request goes on
// with method, path, query and body, without the token); the answer has
// the fields the Python SDK indexes, an ISO-8601 expiry.
func TestServiceURLProxiesWithToken(t *testing.T) {
	e := newDataplaneEnv(t)
	serveInBox(t, e, 8000)
	r, su := issue(t, e, e.keyA, "dp-box", `{"port":8000,"expires_in_seconds":120}`)
	wantStatus(t, r, 200)
	if want := e.srv.URL + "/service/" + e.id + "/8000/"; su.service != want {
		t.Errorf("service_url %q, want %q", su.service, want)
	}
	if su.browser != su.service+"?langsmith_service_token="+url.QueryEscape(su.token) {
		t.Errorf("browser_url %q", su.browser)
	}
	exp, err := time.Parse(time.RFC3339, su.expires)
	if err != nil || !within(time.Until(exp), 120*time.Second) {
		t.Errorf("expires_at %q (%v), want ISO-8601 about 120 s on", su.expires, err)
	}
	code, body, _ := fetch(t, "POST", su.service+"a/b?x=1", su.token)
	if code != 200 || body != "POST /a/b?x=1 token= cookie= body=payload" {
		t.Errorf("through the proxy: %d %q", code, body)
	}
	code, body, _ = fetch(t, "GET", su.service+"a%2Fb/c%20d", su.token)
	if code != 200 || body != "GET /a%2Fb/c%20d token= cookie= body=payload" {
		t.Errorf("escaped path through the proxy: %d %q", code, body)
	}
}

// Requests without the token, with a forged or altered one, with one of
// another port or box, or after it expired, are refused in LangSmith's
// shape; nothing reaches the service.
func TestServiceURLRefusesBadTokens(t *testing.T) {
	e := newDataplaneEnv(t)
	serveInBox(t, e, 8000)
	serveInBox(t, e, 9000)
	_, su := issue(t, e, e.keyA, "dp-box", `{"port":8000}`)
	_, other := issue(t, e, e.keyA, "dp-box", `{"port":9000}`)
	cases := map[string]string{
		"absent":        "",
		"forged":        "v1|x|" + e.id + "|8000|99999999999",
		"altered":       su.token[:len(su.token)-2] + "AA",
		"another port":  other.token,
		"not a token":   "sg1:deadbeef:AAAA",
		"garbage token": "%%%",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			code, body, _ := fetch(t, "GET", su.service, tok)
			if code != 403 || !strings.Contains(body, `"error":"Forbidden"`) {
				t.Errorf("%d %s, want 403 Forbidden", code, body)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		e.env.Clock.Advance(601 * time.Second)
		t.Cleanup(func() { e.env.Clock.Advance(-601 * time.Second) })
		code, body, _ := fetch(t, "GET", su.service, su.token)
		if code != 403 || !strings.Contains(body, "expired") {
			t.Errorf("%d %s, want 403 naming the expiry", code, body)
		}
	})
	t.Run("unknown box", func(t *testing.T) {
		code, _, _ := fetch(t, "GET", strings.Replace(su.service, e.id, "nope", 1), su.token)
		if code != 403 {
			t.Errorf("%d, want 403 (the token is for another box)", code)
		}
	})
}

// Deleting a port's grant revokes its tokens at once; a new token for
// the port works, the old one stays refused. Deleting without a port
// revokes every port.
func TestServiceURLDeleteRevokes(t *testing.T) {
	e := newDataplaneEnv(t)
	serveInBox(t, e, 8000)
	serveInBox(t, e, 9000)
	_, old := issue(t, e, e.keyA, "dp-box", `{"port":8000}`)
	_, refreshed := issue(t, e, e.keyA, "dp-box", `{"port":8000}`)
	_, p9 := issue(t, e, e.keyA, "dp-box", `{"port":9000}`)
	if code, _, _ := fetch(t, "GET", old.service, old.token); code != 200 {
		t.Fatalf("before delete: %d", code)
	}
	wantStatus(t, call(t, e.srv, "DELETE", "/api/v2/sandboxes/boxes/dp-box/service-urls?port=8000", e.keyA, ""), 204)
	for _, tok := range []string{old.token, refreshed.token} {
		if code, _, _ := fetch(t, "GET", old.service, tok); code != 403 {
			t.Errorf("after delete: %d, want 403", code)
		}
	}
	if code, _, _ := fetch(t, "GET", p9.service, p9.token); code != 200 {
		t.Errorf("port 9000 after deleting 8000: %d", code)
	}
	_, fresh := issue(t, e, e.keyA, "dp-box", `{"port":8000}`)
	if code, _, _ := fetch(t, "GET", fresh.service, fresh.token); code != 200 {
		t.Errorf("new token after delete: %d", code)
	}
	if code, _, _ := fetch(t, "GET", old.service, old.token); code != 403 {
		t.Errorf("old token after a new grant: %d, want 403", code)
	}
	wantStatus(t, call(t, e.srv, "DELETE", "/api/v2/sandboxes/boxes/dp-box/service-urls", e.keyA, ""), 204)
	for _, su := range []serviceURL{fresh, p9} {
		if code, _, _ := fetch(t, "GET", su.service, su.token); code != 403 {
			t.Errorf("after deleting every port: %d, want 403", code)
		}
	}
}

// Another tenant's box is not found on every service-url route, and its
// grants are not touched.
func TestServiceURLTenancy(t *testing.T) {
	e := newDataplaneEnv(t)
	serveInBox(t, e, 8000)
	_, su := issue(t, e, e.keyA, "dp-box", `{"port":8000}`)
	for _, rq := range []struct{ method, path, body string }{
		{"POST", "/boxes/dp-box/service-url", `{"port":8000}`},
		{"POST", "/boxes/" + e.id + "/service-url", `{"port":8000}`},
		{"GET", "/boxes/dp-box/service-urls", ""},
		{"DELETE", "/boxes/dp-box/service-urls", ""},
		{"DELETE", "/boxes/" + e.id + "/service-urls?port=8000", ""},
	} {
		r := call(t, e.srv, rq.method, "/api/v2/sandboxes"+rq.path, e.keyB, rq.body)
		if tok, _ := detail(r); r.status != 404 || tok != "NotFound" {
			t.Errorf("B %s %s: %d %v, want 404 NotFound", rq.method, rq.path, r.status, r.body)
		}
	}
	if code, _, _ := fetch(t, "GET", su.service, su.token); code != 200 {
		t.Errorf("A's token after B's deletes: %d", code)
	}
	if r := call(t, e.srv, "POST", "/api/v2/sandboxes/boxes/dp-box/service-url", "", `{"port":8000}`); r.status != 403 {
		t.Errorf("no key: %d", r.status)
	}
}

// browser_url's token is exchanged for a cookie scoped to the service's
// path, and the redirect drops it from the URL; the cookie then opens the
// service and is not passed on to it.
func TestServiceURLBrowserFlow(t *testing.T) {
	e := newDataplaneEnv(t)
	serveInBox(t, e, 8000)
	_, su := issue(t, e, e.keyA, "dp-box", `{"port":8000}`)
	code, _, h := fetch(t, "GET", su.browser+"&page=2", "")
	if code != 302 {
		t.Fatalf("browser_url: %d, want 302", code)
	}
	if loc := h.Get("Location"); loc != "/service/"+e.id+"/8000/?page=2" {
		t.Errorf("Location %q, want the URL without the token", loc)
	}
	ck := h.Get("Set-Cookie")
	if !strings.Contains(ck, "Path=/service/"+e.id+"/8000/") || !strings.Contains(ck, "HttpOnly") {
		t.Errorf("Set-Cookie %q", ck)
	}
	cookie := strings.SplitN(ck, ";", 2)[0]
	code, body, _ := fetch(t, "GET", su.service+"?page=2", "", "Cookie", cookie+"; app=1")
	if code != 200 || body != "GET /?page=2 token= cookie=app=1 body=payload" {
		t.Errorf("with the cookie: %d %q", code, body)
	}
	if code, _, _ := fetch(t, "GET", su.service+"?langsmith_service_token=bad", ""); code != 403 {
		t.Errorf("bad browser token: %d, want 403", code)
	}
}

// A WebSocket through the proxy reaches the service and carries messages
// both ways.
func TestServiceURLWebSocket(t *testing.T) {
	e := newDataplaneEnv(t)
	serveInBox(t, e, 8000)
	_, su := issue(t, e, e.keyA, "dp-box", `{"port":8000}`)
	h := http.Header{}
	h.Set(ServiceTokenHeader, su.token)
	conn, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(su.service, "http")+"ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	defer conn.CloseNow()
	for _, msg := range []string{"one", "two"} {
		if err := conn.Write(t.Context(), websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := conn.Read(t.Context())
		if err != nil || string(got) != "echo:"+msg {
			t.Fatalf("read %q %v, want echo:%s", got, err, msg)
		}
	}
	_ = conn.Close(websocket.StatusNormalClosure, "")
	if _, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(su.service, "http")+"ws", nil); err == nil {
		t.Error("a WebSocket without the token was accepted")
	}
}

// Nothing listening on the port is 503; the proxy does not hang.
func TestServiceURLNothingListens(t *testing.T) {
	e := newDataplaneEnv(t)
	_, su := issue(t, e, e.keyA, "dp-box", `{"port":8001}`)
	code, body, _ := fetch(t, "GET", su.service, su.token)
	if code != 503 || !strings.Contains(body, "ServiceUnavailable") {
		t.Errorf("%d %s, want 503 ServiceUnavailable", code, body)
	}
}

// The listing shows each live grant once, by port, paged with cursors;
// an expired grant is left out.
func TestServiceURLList(t *testing.T) {
	e := newDataplaneEnv(t)
	issue(t, e, e.keyA, "dp-box", `{"port":9000,"expires_in_seconds":60}`)
	issue(t, e, e.keyA, "dp-box", `{"port":8000,"expires_in_seconds":3600}`)
	issue(t, e, e.keyA, "dp-box", `{"port":8000}`)
	ports := func(query string) ([]float64, any) {
		r := call(t, e.srv, "GET", "/api/v2/sandboxes/boxes/dp-box/service-urls"+query, e.keyA, "")
		wantStatus(t, r, 200)
		var out []float64
		for _, it := range r.body["items"].([]any) {
			m := it.(map[string]any)
			if m["access"] != "token" || m["expires_at"] == nil || m["created_at"] == nil {
				t.Errorf("item %v", m)
			}
			out = append(out, m["port"].(float64))
		}
		return out, r.body["next_cursor"]
	}
	if got, next := ports(""); len(got) != 2 || got[0] != 8000 || got[1] != 9000 || next != nil {
		t.Errorf("list: %v next %v, want [8000 9000] and no cursor", got, next)
	}
	if got, next := ports("?page_size=1"); len(got) != 1 || got[0] != 8000 || next != "1" {
		t.Errorf("page 1: %v next %v", got, next)
	}
	if got, next := ports("?page_size=1&cursor=1"); len(got) != 1 || got[0] != 9000 || next != nil {
		t.Errorf("page 2: %v next %v", got, next)
	}
	e.env.Clock.Advance(2 * time.Minute)
	if got, _ := ports(""); len(got) != 1 || got[0] != 8000 {
		t.Errorf("after 9000 expired: %v", got)
	}
}
