package ports_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/adapters/e2b/ports"
	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
)

// harness is the port proxy over a fake dataplane engine whose sandboxes'
// ports are in-memory listeners.
type harness struct {
	srv    *httptest.Server
	engine *coretest.DataplaneEngine
	// public and private run; private's ports need its traffic token and
	// its requests carry a masked Host. paused is paused.
	public, private, paused string
	token                   string
	// release ends the stream the sandbox's /stream handler holds open.
	release chan struct{}
}

func newHarness(t *testing.T) *harness { return newHarnessWith(t, 0) }

// newHarnessWith serves the proxy on a router with progress deadlines d
// (cmd/snapgate's stream deadlines), as a server with timeouts, when d > 0.
func newHarnessWith(t *testing.T, d time.Duration) *harness {
	t.Helper()
	env := adaptertest.New(t)
	h := &harness{engine: coretest.NewDataplaneEngine(t.TempDir(), nil), release: make(chan struct{})}
	t.Cleanup(h.engine.Close)
	h.public = putSandbox(t, env, core.SandboxRunning, core.NetworkPolicy{})
	h.private = putSandbox(t, env, core.SandboxRunning, core.NetworkPolicy{PrivatePorts: true, MaskRequestHost: "app.internal:${PORT}"})
	h.paused = putSandbox(t, env, core.SandboxPaused, core.NetworkPolicy{})
	sb, err := env.Store.GetSandbox(t.Context(), "", h.private)
	if err != nil {
		t.Fatal(err)
	}
	h.token = sb.TrafficToken()
	for _, id := range []string{h.public, h.private} {
		l := h.engine.Listen(id, 8000)
		srv := &http.Server{Handler: h.app(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
	dp, err := core.NewDataplane(core.DataplaneOptions{Store: env.Store, Engine: h.engine, Sandboxes: env.Sandboxes, Logger: adaptertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := ports.New(ports.Options{Dataplane: dp, Logger: adaptertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	if d == 0 {
		h.srv = adaptertest.Serve(t, a.Mount)
		return h
	}
	gin.SetMode(gin.TestMode)
	r := edge.NewRouter(edge.Options{Logger: adaptertest.Logger(), Progress: d, BodyLimit: 1 << 10})
	if err := a.Mount(r); err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewUnstartedServer(r)
	h.srv.Config.ReadTimeout, h.srv.Config.ReadHeaderTimeout = d, d
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

// app is what listens on port 8000 in the sandboxes: it echoes what it
// was sent, streams, and speaks WebSocket.
func (h *harness) app() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		_ = c.Write(r.Context(), typ, append([]byte("echo "), msg...))
		_ = c.Close(websocket.StatusNormalClosure, "")
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-h.release
		_, _ = io.WriteString(w, "last\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s host=%s forwarded-host=%s body=%s", r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("X-Forwarded-Host"), body)
	})
	return mux
}

// putSandbox records a sandbox of tenant-a in state with policy p.
func putSandbox(t *testing.T, env *adaptertest.Env, state core.SandboxState, p core.NetworkPolicy) string {
	t.Helper()
	id, err := core.NewSandboxID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := env.Store.CreateSandbox(t.Context(), &core.Sandbox{
		ID: id, TenantID: "tenant-a", State: state, AccessToken: "token-" + id, Network: p,
		Node: "test", VCPUs: 1, MemoryBytes: 1 << 30, StartedAt: now, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

// reply is an answer of the proxy.
type reply struct {
	status int
	header http.Header
	body   string
}

// do sends a request to the proxy; headers "Host" sets the Host.
func (h *harness) do(t *testing.T, method, path, body string, headers map[string]string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

// to routes by header to port of sandbox id, with extra headers.
func to(id, port string, extra ...string) map[string]string {
	m := map[string]string{"E2b-Sandbox-Id": id, "E2b-Sandbox-Port": port}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}
