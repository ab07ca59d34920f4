package ports_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestRoutingAndErrors(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name    string
		method  string
		path    string
		body    string
		headers map[string]string
		status  int
		inBody  string
	}{
		{"header routing", "GET", "/hello?x=1", "", to(h.public, "8000"), 200, "GET /hello?x=1 host=127.0.0.1"},
		{"host routing", "GET", "/hello", "", map[string]string{"Host": "8000-" + h.public + ".localhost:1234"}, 200,
			"host=8000-" + h.public + ".localhost:1234 forwarded-host= "},
		{"a body goes through", "POST", "/up", "some bytes", to(h.public, "8000"), 200, "POST /up host=127.0.0.1"},
		{"a platform API path is the sandbox's", "GET", "/sandboxes", "", to(h.public, "8000"), 200, "GET /sandboxes "},
		{"nothing listens", "GET", "/", "", to(h.public, "8001"), 502,
			`{"sandboxId":"` + h.public + `","message":"The sandbox is running but port is not open","port":8001,"code":502}`},
		{"unknown sandbox", "GET", "/", "", to("inope", "8000"), 502, `"message":"The sandbox was not found","code":502`},
		{"paused sandbox", "GET", "/", "", to(h.paused, "8000"), 502, `"message":"The sandbox was not found"`},
		{"private without token", "GET", "/", "", to(h.private, "8000"), 403,
			`"message":"Sandbox is secured with traffic access token. Token header 'e2b-traffic-access-token' is missing","code":403`},
		{"private with a wrong token", "GET", "/", "", to(h.private, "8000", "E2b-Traffic-Access-Token", "nope"), 403,
			"Provided token in header 'e2b-traffic-access-token' is invalid"},
		{"private with its token, host masked", "GET", "/", "", to(h.private, "8000", "E2b-Traffic-Access-Token", h.token), 200,
			"host=app.internal:8000 forwarded-host=127.0.0.1"},
		{"port without sandbox", "GET", "/", "", map[string]string{"E2b-Sandbox-Port": "8000"}, 400, "missing header"},
		{"bad port", "GET", "/", "", to(h.public, "http"), 400, "Invalid sandbox port"},
		{"port out of range", "GET", "/", "", to(h.public, "70000"), 400, "Invalid sandbox port"},
		{"bad sandbox id", "GET", "/", "", to("I-Bad", "8000"), 400, "Invalid sandbox ID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(t, tc.method, tc.path, tc.body, tc.headers)
			if r.status != tc.status || !strings.Contains(r.body, tc.inBody) {
				t.Errorf("got %d %s, want %d with %q", r.status, r.body, tc.status, tc.inBody)
			}
		})
	}
}

// envd's port and the platform API are not the proxy's: they are routed
// by path (nothing is mounted here, so 404).
func TestNotClaimed(t *testing.T) {
	h := newHarness(t)
	for name, headers := range map[string]map[string]string{
		"envd port by header": to(h.public, "49983"),
		"envd by host":        {"Host": "49983-" + h.public + ".localhost"},
		"envd by id only":     {"E2b-Sandbox-Id": h.public},
		"api host":            {"Host": "api.example.com"},
	} {
		t.Run(name, func(t *testing.T) {
			if r := h.do(t, "GET", "/hello", "", headers); r.status != http.StatusNotFound {
				t.Errorf("got %d %s, want 404 (not claimed)", r.status, r.body)
			}
		})
	}
}

// A browser navigating to a closed port gets an HTML page.
func TestBrowserGetsHTML(t *testing.T) {
	h := newHarness(t)
	r := h.do(t, "GET", "/", "", to(h.public, "8001", "User-Agent", "Mozilla/5.0", "Accept", "text/html"))
	if r.status != 502 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(r.body, "port is not open") {
		t.Errorf("got %d %s %s, want a 502 HTML page", r.status, r.header.Get("Content-Type"), r.body)
	}
}

// The answer streams: its first bytes arrive while the sandbox's server
// is still writing.
func TestAnswerStreams(t *testing.T) {
	h := newHarness(t)
	req, _ := http.NewRequestWithContext(t.Context(), "GET", h.srv.URL+"/stream", nil)
	for k, v := range to(h.public, "8000") {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil || first != "first\n" {
		t.Fatalf("first line %q, %v", first, err)
	}
	close(h.release)
	if last, _ := br.ReadString('\n'); last != "last\n" {
		t.Errorf("last line %q", last)
	}
}

// A WebSocket reaches the sandbox's server through the proxy, also
// behind the server's stream deadlines (which wrap the response writer),
// and outlives the server's read timeout.
func TestWebSocket(t *testing.T) {
	t.Run("plain", func(t *testing.T) { webSocket(t, newHarness(t), 0) })
	t.Run("stream deadlines", func(t *testing.T) { webSocket(t, newHarnessWith(t, time.Second), 1500*time.Millisecond) })
}

// A body larger than the router's body limit goes through: it streams to
// the sandbox's server.
func TestLargeBody(t *testing.T) {
	h := newHarnessWith(t, 5*time.Second)
	body := strings.Repeat("x", 1<<20)
	r := h.do(t, "POST", "/up", body, to(h.public, "8000"))
	if r.status != 200 || !strings.HasSuffix(r.body, "body="+body) {
		t.Errorf("got %d (%d bytes), want 200 echoing the 1 MiB body", r.status, len(r.body))
	}
}

func webSocket(t *testing.T, h *harness, idle time.Duration) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	hdr := http.Header{}
	for k, v := range to(h.public, "8000") {
		hdr.Set(k, v)
	}
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.srv.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	time.Sleep(idle)
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil || string(msg) != "echo hi" {
		t.Errorf("got %q, %v, want %q", msg, err, "echo hi")
	}
}
