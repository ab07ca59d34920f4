package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/core"
)

// forwardEnv is node "test" (this one, serving a router whose routes
// answer "local") and node "b" (an httptest server answering "remote"),
// both heartbeating into one store.
type forwardEnv struct {
	env    *adaptertest.Env
	nodes  *core.Nodes
	srv    *httptest.Server
	remote *httptest.Server
}

func newForwardEnv(t *testing.T) *forwardEnv {
	t.Helper()
	e := adaptertest.New(t)
	fe := &forwardEnv{env: e}
	fe.remote = httptest.NewServer(http.HandlerFunc(remoteNode))
	t.Cleanup(fe.remote.Close)
	var err error
	fe.nodes, err = core.NewNodes(core.NodesOptions{Store: e.Store, Logger: adaptertest.Logger(),
		Self: core.Node{Name: "test", Address: "http://self.invalid", VCPUs: 4, MemoryBytes: 8 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.NewNodes(core.NodesOptions{Store: e.Store, Logger: adaptertest.Logger(),
		Self: core.Node{Name: "b", Address: fe.remote.URL, VCPUs: 4, MemoryBytes: 8 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*core.Nodes{fe.nodes, b} {
		if err := n.Heartbeat(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	fw := &forwarder{nodes: fe.nodes, sandboxes: e.Sandboxes, keys: e.Keys, self: "test", log: adaptertest.Logger()}
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(fw.handle)
	local := func(c *gin.Context) { c.String(http.StatusOK, "local") }
	for _, p := range []string{"/sandboxes/:sandboxID", "/dataplane/:box/execute", "/files", "/v2/sandboxes/boxes/:box_name", "/v2/sandboxes/boxes"} {
		r.Any(p, local)
	}
	r.POST("/sandboxes", local)
	fe.srv = httptest.NewServer(r)
	t.Cleanup(fe.srv.Close)
	return fe
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
		_, _ = io.WriteString(w, "remote from="+r.Header.Get(forwardedHeader)+" host="+r.Host)
		if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
			_, _ = io.WriteString(w, " proto="+p)
		}
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			_, _ = io.WriteString(w, " body="+string(b))
		}
	}
}

func (fe *forwardEnv) sandbox(t *testing.T, tenant, name, node string, state core.SandboxState) string {
	t.Helper()
	return fe.sized(t, tenant, name, node, state, 1, 1<<30)
}

func (fe *forwardEnv) sized(t *testing.T, tenant, name, node string, state core.SandboxState, vcpus int, mem int64) string {
	t.Helper()
	id, err := core.NewSandboxID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sb := &core.Sandbox{ID: id, TenantID: tenant, Name: name, State: state, VCPUs: vcpus, MemoryBytes: mem,
		OnTimeout: core.TimeoutKill, Node: node, CreatedAt: now, UpdatedAt: now}
	if err := fe.env.Store.CreateSandbox(t.Context(), sb); err != nil {
		t.Fatal(err)
	}
	return id
}

func (fe *forwardEnv) call(t *testing.T, method, path string, hdr map[string]string) string {
	t.Helper()
	return fe.send(t, method, path, hdr, "")
}

func (fe *forwardEnv) send(t *testing.T, method, path string, hdr map[string]string, body string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, fe.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
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
	return string(b)
}

func TestForwardSandboxCallsToOwningNode(t *testing.T) {
	fe := newForwardEnv(t)
	onB := fe.sandbox(t, "tenant-a", "box-b", "b", core.SandboxRunning)
	here := fe.sandbox(t, "tenant-a", "box-here", "test", core.SandboxRunning)
	onDead := fe.sandbox(t, "tenant-a", "box-dead", "gone", core.SandboxRunning)
	host := strings.TrimPrefix(fe.srv.URL, "http://")
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		want               string
	}{
		{"e2b by id", "GET", "/sandboxes/" + onB, nil, "remote from=test host=" + host},
		{"e2b on this node", "DELETE", "/sandboxes/" + here, nil, "local"},
		{"e2b on an unknown node", "GET", "/sandboxes/" + onDead, nil, "local"},
		{"e2b unknown sandbox", "GET", "/sandboxes/inope", nil, "local"},
		{"langsmith dataplane by id", "POST", "/dataplane/" + onB + "/execute", nil, "remote from=test host=" + host},
		{"envd by header", "GET", "/files", map[string]string{"E2b-Sandbox-Id": onB}, "remote from=test host=" + host},
		{"envd by host", "GET", "/files", map[string]string{"Host": "49983-" + onB + ".sb.example"}, "remote from=test host=49983-" + onB + ".sb.example"},
		{"langsmith box by name", "GET", "/v2/sandboxes/boxes/box-b", map[string]string{"X-Api-Key": fe.env.KeyA}, "remote from=test host=" + host},
		{"langsmith box name of another tenant", "GET", "/v2/sandboxes/boxes/box-b", map[string]string{"X-Api-Key": fe.env.KeyB}, "local"},
		{"langsmith box without a key", "GET", "/v2/sandboxes/boxes/box-b", nil, "local"},
		{"front end's proto kept", "GET", "/sandboxes/" + onB, map[string]string{"X-Forwarded-Proto": "https"}, "remote from=test host=" + host + " proto=https"},
		{"already forwarded: no second hop", "GET", "/sandboxes/" + onB, map[string]string{forwardedHeader: "x"}, "local"},
		{"create placed on this node", "POST", "/sandboxes", nil, "local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fe.call(t, tt.method, tt.path, tt.hdr); got != tt.want {
				t.Errorf("%s %s answered %q, want %q", tt.method, tt.path, got, tt.want)
			}
		})
	}

	// This node now holds more than b: creates go to b.
	fe.sandbox(t, "tenant-a", "", "test", core.SandboxRunning)
	if got, want := fe.call(t, "POST", "/v2/sandboxes/boxes", nil), "remote from=test host="+host; got != want {
		t.Errorf("create with b emptier: %q, want %q", got, want)
	}
}

// Placement reads the size a LangSmith create asks for, and the body
// reaches the chosen node whole.
func TestForwardCreateBySize(t *testing.T) {
	fe := newForwardEnv(t)
	fe.sized(t, "tenant-a", "", "test", core.SandboxRunning, 1, 7<<30) // free: 3 vCPUs, 1 GiB
	fe.sized(t, "tenant-a", "", "b", core.SandboxRunning, 2, 1<<30)    // free: 2 vCPUs, 7 GiB
	host := strings.TrimPrefix(fe.srv.URL, "http://")
	if got := fe.send(t, "POST", "/v2/sandboxes/boxes", nil, `{"name":"small"}`); got != "local" {
		t.Errorf("default size: %q, want local (more free vCPUs here)", got)
	}
	big := `{"name":"big","mem_bytes":2147483648}`
	if got, want := fe.send(t, "POST", "/v2/sandboxes/boxes", nil, big), "remote from=test host="+host+" body="+big; got != want {
		t.Errorf("2 GiB: %q, want %q", got, want)
	}
}

func TestForwardStreamsAndUpgrades(t *testing.T) {
	fe := newForwardEnv(t)
	onB := fe.sandbox(t, "tenant-a", "box-b", "b", core.SandboxRunning)

	t.Run("stream flushed at once", func(t *testing.T) {
		start := time.Now()
		resp, err := http.Get(fe.srv.URL + "/sandboxes/" + onB + "?stream=1")
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
		_, _ = io.WriteString(conn, "GET /dataplane/"+onB+"/execute HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
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
