package edge_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// fakeCluster puts sandboxes whose ref starts "on-b" on node b; "broken"
// cannot be looked up. It records what it was asked.
type fakeCluster struct {
	b     string // node b's address
	mu    sync.Mutex
	asked []string
}

func (f *fakeCluster) Where(ctx context.Context, ref string) error {
	f.mu.Lock()
	f.asked = append(f.asked, ref)
	f.mu.Unlock()
	switch {
	case strings.HasPrefix(ref, "on-b"):
		return &core.ElsewhereError{Node: "b", Address: f.b}
	case ref == "broken":
		return errors.New("store down")
	}
	return nil
}

// remoteNode stands for node b: it reports what reached it, streams when
// asked, and echoes over an upgraded connection.
func remoteNode(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Header.Get("Upgrade") == "websocket":
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		line, _ := rw.ReadString('\n')
		_, _ = rw.WriteString("echo " + line)
		_ = rw.Flush()
	case r.URL.Query().Get("stream") == "1":
		_, _ = io.WriteString(w, "first\n")
		http.NewResponseController(w).Flush()
		time.Sleep(time.Second) // the client must have "first" before this ends
		_, _ = io.WriteString(w, "second\n")
	default:
		w.Header().Set("X-Request-Id", r.Header.Get("X-Request-Id"))
		_, _ = io.WriteString(w, "remote from="+r.Header.Get("X-Snapgate-Forwarded")+" host="+r.Host)
		if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
			_, _ = io.WriteString(w, " proto="+p)
		}
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			_, _ = io.WriteString(w, " body="+string(b))
		}
	}
}

// forwardEnv is this node ("a", serving vendor "v") and node b.
type forwardEnv struct {
	srv, remote *httptest.Server
	cluster     *fakeCluster
}

func newForwardEnv(t *testing.T) *forwardEnv {
	t.Helper()
	gin.SetMode(gin.TestMode)
	fe := &forwardEnv{remote: httptest.NewServer(http.HandlerFunc(remoteNode))}
	t.Cleanup(fe.remote.Close)
	fe.cluster = &fakeCluster{b: fe.remote.URL}
	r := edge.NewRouter(edge.Options{Cluster: fe.cluster, Node: "a", BodyLimit: 1 << 20})
	local := []gin.HandlerFunc{answer("local")}
	v := fakeVendor("v",
		edge.Route{Method: "GET", Path: "/v/boxes/:box", Locate: edge.Param("box"), Handlers: local},
		edge.Route{Method: "GET", Path: "/v/list/:name", Locate: edge.AnyNode, Handlers: local},
		edge.Route{Method: "GET", Path: "/v/by-header", Locate: edge.Func(func(c *gin.Context) string { return c.GetHeader("Sandbox") }), Handlers: local},
		edge.Route{Method: "POST", Path: "/v/create", Locate: edge.Places, Handlers: []gin.HandlerFunc{placeOnB(fe.remote.URL)}},
		edge.Route{Method: "POST", Path: "/v/not-a-create", Locate: edge.AnyNode, Handlers: []gin.HandlerFunc{placeOnB(fe.remote.URL)}},
	)
	if err := r.Mount(v); err != nil {
		t.Fatal(err)
	}
	fe.srv = httptest.NewServer(r)
	t.Cleanup(fe.srv.Close)
	return fe
}

// placeOnB reads the body, as a handler does, then fails the way core's
// placement does for a create node b must start, unless the body says
// "here".
func placeOnB(addr string) gin.HandlerFunc {
	return func(c *gin.Context) {
		b, _ := io.ReadAll(c.Request.Body)
		if string(b) == "here" {
			c.String(http.StatusCreated, "local")
			return
		}
		writeFake("v")(c, &core.ElsewhereError{Node: "b", Address: addr})
	}
}

func (fe *forwardEnv) send(t *testing.T, method, path string, hdr map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, fe.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", "key-v")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if h := hdr["Host"]; h != "" {
		req.Host = h
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestForwardToTheNodeThatAnswers(t *testing.T) {
	fe := newForwardEnv(t)
	host := strings.TrimPrefix(fe.srv.URL, "http://")
	remote := "remote from=a host=" + host
	cases := []struct {
		name, method, path string
		hdr                map[string]string
		body               string
		want               string
	}{
		{"by path parameter", "GET", "/v/boxes/on-b", nil, "", remote},
		{"here", "GET", "/v/boxes/here", nil, "", "local"},
		{"cluster cannot tell: answered here", "GET", "/v/boxes/broken", nil, "", "local"},
		{"any node", "GET", "/v/list/on-b", nil, "", "local"},
		{"by header", "GET", "/v/by-header", map[string]string{"Sandbox": "on-b"}, "", remote},
		{"client's host kept", "GET", "/v/boxes/on-b", map[string]string{"Host": "49983-on-b.sb.example"}, "", "remote from=a host=49983-on-b.sb.example"},
		{"front end's proto kept", "GET", "/v/boxes/on-b", map[string]string{"X-Forwarded-Proto": "https"}, "", remote + " proto=https"},
		{"already forwarded: no second hop", "GET", "/v/boxes/on-b", map[string]string{"X-Snapgate-Forwarded": "x"}, "", "local"},
		{"create placed elsewhere: sent whole", "POST", "/v/create", nil, `{"name":"big"}`, remote + ` body={"name":"big"}`},
		{"create placed here", "POST", "/v/create", nil, "here", "local"},
		{"elsewhere from a route that places nothing is internal", "POST", "/v/not-a-create", nil, "x", `{"code":500,"message":"internal error","vendor":"v"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, got := fe.send(t, tc.method, tc.path, tc.hdr, tc.body)
			if got != tc.want {
				t.Errorf("%s %s answered %q, want %q", tc.method, tc.path, got, tc.want)
			}
			if ids := resp.Header.Values("X-Request-Id"); len(ids) != 1 || ids[0] == "" {
				t.Errorf("X-Request-Id %q, want one id (the remote answers under this node's)", ids)
			}
		})
	}
	// An unauthenticated call is refused here, before anything is located.
	fe.cluster.asked = nil
	resp, _ := fe.send(t, "GET", "/v/boxes/on-b", map[string]string{"X-Api-Key": "bad"}, "")
	if resp.StatusCode != 401 || len(fe.cluster.asked) != 0 {
		t.Errorf("bad key: %d, cluster asked %q; want 401 and nothing asked", resp.StatusCode, fe.cluster.asked)
	}
}

// A node that does not answer is the vendor's 502, under this node's
// request id.
func TestForwardToADeadNodeIsBadGateway(t *testing.T) {
	fe := newForwardEnv(t)
	fe.remote.Close()
	resp, body := fe.send(t, "GET", "/v/boxes/on-b", nil, "")
	if resp.StatusCode != 502 || !strings.Contains(body, `"vendor":"v"`) || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("call: %d %s %v, want vendor v's 502 with a request id", resp.StatusCode, body, resp.Header)
	}
	resp, body = fe.send(t, "POST", "/v/create", nil, "{}")
	if resp.StatusCode != 502 || !strings.Contains(body, `"vendor":"v"`) {
		t.Errorf("create: %d %s, want vendor v's 502", resp.StatusCode, body)
	}
}

func TestForwardStreamsAndUpgrades(t *testing.T) {
	fe := newForwardEnv(t)
	t.Run("stream flushed at once", func(t *testing.T) {
		start := time.Now()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", fe.srv.URL+"/v/boxes/on-b?stream=1", nil)
		req.Header.Set("X-Api-Key", "key-v")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || line != "first\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		if d := time.Since(start); d > 700*time.Millisecond {
			t.Errorf("first line after %s: held back until the stream ended", d)
		}
	})
	t.Run("websocket upgrade", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(fe.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "GET /v/boxes/on-b HTTP/1.1\r\nHost: x\r\nX-Api-Key: key-v\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		_, _ = io.WriteString(conn, "hello\n")
		if line, _ := br.ReadString('\n'); line != "echo hello\n" {
			t.Errorf("through the upgraded connection: %q", line)
		}
	})
}
