package envd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
	"github.com/snapgate/snapgate/specs"
)

// hostEngine is a core.DataplaneEngine for these tests: a sandbox's root
// filesystem is a temporary directory, and its processes are host
// processes running in that directory (argv, env and stdin as given; no
// chroot, no user switch). The busybox shell core falls back to is the
// host's /bin/sh.
type hostEngine struct {
	mu    sync.Mutex
	roots map[string]string
	procs []*hostProcess
}

// killSandboxProcesses SIGKILLs every process as a kill of the sandbox
// does: they end with SandboxEnded.
func (e *hostEngine) killSandboxProcesses() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.procs {
		p.sandboxEnding.Store(true)
		_ = p.cmd.Process.Kill()
	}
}

// rootDir is sandbox id's root filesystem on the host.
func (e *hostEngine) rootDir(id string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.roots[id]; ok {
		return r, nil
	}
	return "", core.Errorf(core.ErrNotFound, "sandbox %s has no task", id)
}

// OpenFS serves the sandbox's directory as the fakes do (with the test
// process's own ids).
func (e *hostEngine) OpenFS(_ context.Context, id string) (core.SandboxFS, error) {
	root, err := e.rootDir(id)
	if err != nil {
		return nil, err
	}
	return coretest.DirFS(root)
}

// HoldFiles: the host engine never captures, so nothing waits.
func (e *hostEngine) HoldFiles(context.Context, string) (func(), error) { return func() {}, nil }

func (e *hostEngine) StartProcess(ctx context.Context, id string, spec core.ProcessSpec, stdout, stderr io.Writer) (core.RunningProcess, error) {
	root, err := e.rootDir(id)
	if err != nil {
		return nil, err
	}
	argv := spec.Argv
	if argv[0] == core.SandboxBusybox {
		argv = append([]string{"/bin/sh"}, argv[2:]...)
	}
	if argv[0] == "/bin/sh" && len(argv) > 1 && argv[1] == "-l" {
		argv = append([]string{"/bin/sh"}, argv[2:]...) // no login profile on the host
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = filepath.Join(root, spec.Cwd)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, spec.Env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Like the real engine, Wait does not wait for a child that keeps
	// the output open.
	cmd.WaitDelay = 100 * time.Millisecond
	hp := &hostProcess{cmd: cmd}
	if spec.Stdin {
		if hp.stdin, err = cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.procs = append(e.procs, hp)
	e.mu.Unlock()
	return hp, nil
}

type hostProcess struct {
	cmd           *exec.Cmd
	stdin         io.WriteCloser
	sandboxEnding atomic.Bool
}

func (p *hostProcess) Stdin() io.WriteCloser { return p.stdin }

func (p *hostProcess) Signal(_ context.Context, sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (p *hostProcess) Wait(context.Context) (core.ExitStatus, error) {
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return core.ExitStatus{}, err
	}
	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return core.ExitStatus{Code: -1, Signal: ws.Signal(), SandboxEnded: p.sandboxEnding.Load()}, nil
	}
	return core.ExitStatus{Code: ws.ExitStatus()}, nil
}

// harness is the adapter over a real core.Dataplane (SQLite store, host
// engine) with one running sandbox of tenant A.
type harness struct {
	eng   *hostEngine
	srv   *httptest.Server
	id    string // the running sandbox
	token string
	root  string // its root filesystem on the host
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := t.Context()
	env := adaptertest.New(t)
	h := &harness{root: t.TempDir(), token: "envd-token-" + strings.Repeat("x", 20)}
	var err error
	if h.id, err = core.NewSandboxID(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"etc", "home/user", "root", "tmp"} {
		if err := os.MkdirAll(filepath.Join(h.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"
	if err := os.WriteFile(filepath.Join(h.root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.root, "etc/group"), []byte("root:x:0:\nuser:x:1000:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(h.root, "home/user"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := env.Store.CreateSandbox(ctx, &core.Sandbox{
		ID: h.id, TenantID: "tenant-a", State: core.SandboxRunning, AccessToken: h.token,
		Node: "test", VCPUs: 1, MemoryBytes: 1 << 30, StartedAt: now, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	eng := &hostEngine{roots: map[string]string{h.id: h.root}}
	h.eng = eng
	dp, err := core.NewDataplane(core.DataplaneOptions{Store: env.Store, Engine: eng, Sandboxes: env.Sandboxes, Logger: adaptertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := specs.Envd(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Dataplane: dp, Spec: spec, Logger: adaptertest.Logger(), Validate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	h.srv = adaptertest.Serve(t, a.Mount)
	return h
}

// headers sets envd's routing and auth headers (as the SDK does with
// E2B_SANDBOX_URL) on top of extra ones; an extra "" value deletes one.
func (h *harness) headers(req *http.Request, extra map[string]string) {
	req.Header.Set("E2b-Sandbox-Id", h.id)
	req.Header.Set("E2b-Sandbox-Port", envdPort)
	req.Header.Set("X-Access-Token", h.token)
	for k, v := range extra {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
}

type reply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (h *harness) do(t *testing.T, method, path, ct string, body io.Reader, extra map[string]string) reply {
	t.Helper()
	return h.doCtx(t, t.Context(), method, path, ct, body, extra)
}

// doCtx is do bounded by ctx: a request or body read cut by it fails the
// test, naming the request.
func (h *harness) doCtx(t *testing.T, ctx context.Context, method, path, ct string, body io.Reader, extra map[string]string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, h.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	h.headers(req, extra)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header}
	if r.raw, err = io.ReadAll(resp.Body); err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		r.raw = compact(r.raw)
	}
	_ = json.Unmarshal(r.raw, &r.body)
	return r
}

// unary calls a unary RPC ("process.Process/List") with a JSON message.
func (h *harness) unary(t *testing.T, method, msg string, extra map[string]string) reply {
	t.Helper()
	return h.do(t, "POST", "/"+method, "application/json", strings.NewReader(msg), withConnect(extra))
}

func withConnect(extra map[string]string) map[string]string {
	out := map[string]string{"Connect-Protocol-Version": "1"}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// flagEndStream marks a Connect stream's end-stream envelope.
const flagEndStream = 0x02

// compact drops the whitespace protojson puts at random into its output
// (so that nobody compares its bytes), so tests can match substrings.
func compact(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// streamCall is a server-streaming call in progress.
type streamCall struct {
	status int
	body   io.ReadCloser
	r      *bufio.Reader
}

// stream starts a server-streaming RPC with one request message.
func (h *harness) stream(t *testing.T, method, msg string, extra map[string]string) *streamCall {
	t.Helper()
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 0, 0, 0})
	binary.BigEndian.PutUint32(buf.Bytes()[1:], uint32(len(msg)))
	buf.WriteString(msg)
	req, err := http.NewRequest("POST", h.srv.URL+"/"+method, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/connect+json")
	h.headers(req, withConnect(extra))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &streamCall{status: resp.StatusCode, body: resp.Body, r: bufio.NewReader(resp.Body)}
}

// next returns the next message and whether it is the end-stream one.
func (c *streamCall) next(t *testing.T) (string, bool) {
	t.Helper()
	var head [5]byte
	if _, err := io.ReadFull(c.r, head[:]); err != nil {
		t.Fatalf("read envelope: %v", err)
	}
	msg := make([]byte, binary.BigEndian.Uint32(head[1:]))
	if _, err := io.ReadFull(c.r, msg); err != nil {
		t.Fatalf("read message: %v", err)
	}
	return string(compact(msg)), head[0]&flagEndStream != 0
}

// rest reads every message up to and including the end-stream one.
func (c *streamCall) rest(t *testing.T) (msgs []string, end string) {
	t.Helper()
	for {
		m, last := c.next(t)
		if last {
			return msgs, m
		}
		msgs = append(msgs, m)
	}
}

func jsonOf(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %q", s)
	}
	return v
}

// DialPort: the host engine's sandboxes listen on no port.
func (e *hostEngine) DialPort(_ context.Context, id string, port uint16) (net.Conn, error) {
	return nil, core.Errorf(core.ErrUnavailable, "nothing listens on port %d in sandbox %s", port, id)
}
