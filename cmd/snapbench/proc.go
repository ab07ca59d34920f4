package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// snapgateProc is one `snapgate serve` subprocess with its own data dir,
// SQLite file, containerd namespace and log file.
type snapgateProc struct {
	label   string // "validation on" / "validation off"
	ns      string
	key     string
	base    string // http://127.0.0.1:port
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// startSnapgate starts bin as `snapgate serve` in its own process group and
// waits until /healthz answers 200. Its stderr (one JSON line per request)
// goes to a file in dir, never to the terminal.
func startSnapgate(ctx context.Context, bin, dir, label, ns, containerd, registry string, disableValidation bool) (*snapgateProc, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := randomKey()
	if err != nil {
		return nil, err
	}
	p := &snapgateProc{label: label, ns: ns, key: key, logPath: filepath.Join(dir, "snapgate.log"), exited: make(chan struct{})}
	logf, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	env := map[string]string{
		"SNAPGATE_LISTEN":               "127.0.0.1:0",
		"SNAPGATE_DATA_DIR":             dir,
		"SNAPGATE_CONTAINERD_ADDRESS":   containerd,
		"SNAPGATE_CONTAINERD_NAMESPACE": ns,
		"SNAPGATE_INSECURE_REGISTRIES":  registry,
		"SNAPGATE_BOOTSTRAP_API_KEY":    key,
		"SNAPGATE_BOOTSTRAP_TENANT":     "bench",
		"SNAPGATE_NODE_NAME":            "snapbench-" + ns,
		"SNAPGATE_NODE_VCPUS":           "256", // measure starts, not admission
		"SNAPGATE_NODE_PIDS":            "0",
		"SNAPGATE_QUOTA_SANDBOXES":      "0",
		"SNAPGATE_QUOTA_SNAPSHOTS":      "0",
		"SNAPGATE_QUOTA_STORAGE_BYTES":  "0",
	}
	if disableValidation {
		env["SNAPGATE_DISABLE_VALIDATION"] = "1"
	}
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	cmd.Env = childEnv(env)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p.cmd = cmd
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()

	addr, err := p.waitListening(ctx, 30*time.Second)
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("snapgate (%s) did not start: %w\n%s", label, err, p.logTail(20))
	}
	p.base = "http://" + addr
	if err := p.waitHealthy(ctx, 30*time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("snapgate (%s) not healthy: %w\n%s", label, err, p.logTail(20))
	}
	return p, nil
}

// childEnv is this process's environment without any SNAPGATE_* variable,
// plus set.
func childEnv(set map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SNAPGATE_") {
			env = append(env, kv)
		}
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

func randomKey() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "e2b_" + hex.EncodeToString(b), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// waitListening reads the log until the "snapgate listening" line gives the
// bound address (the process listens on port 0, so no port can be stolen).
func (p *snapgateProc) waitListening(ctx context.Context, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if addr := p.listenAddr(); addr != "" {
			return addr, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-p.exited:
			return "", fmt.Errorf("exited: %v", p.waitErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("no 'snapgate listening' line within %s", timeout)
}

func (p *snapgateProc) listenAddr() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "snapgate listening" && line.Addr != "" {
			return line.Addr
		}
	}
	return ""
}

func (p *snapgateProc) waitHealthy(ctx context.Context, timeout time.Duration) error {
	c := &http.Client{Timeout: 3 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, "GET", p.base+"/healthz", nil)
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.exited:
			return fmt.Errorf("exited: %v", p.waitErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("/healthz not 200 within %s (last: %s)", timeout, last)
}

// Stop sends SIGTERM to the process group, then SIGKILL after 15 s. It is
// idempotent.
func (p *snapgateProc) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
}

// Alive reports an error if the process has exited.
func (p *snapgateProc) Alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("snapgate (%s) exited: %v\n%s", p.label, p.waitErr, p.logTail(20))
	default:
		return nil
	}
}

// logSize is the current length of the log file, to cut out a phase later.
func (p *snapgateProc) logSize() int64 {
	st, err := os.Stat(p.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// logTail returns the last n lines of the log that are not access-log lines.
func (p *snapgateProc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.Contains(l, `"msg":"request"`) {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return "  log " + p.logPath + ":\n    " + strings.Join(keep, "\n    ")
}

// api is a small JSON client for one snapgate process.
type api struct {
	p *snapgateProc
	c *http.Client
}

var errStatus = errors.New("unexpected status")

// do sends a request with the key and decodes a JSON object answer.
func (a api) do(ctx context.Context, method, path string, body any, want int) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.p.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Api-Key", a.p.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %w %d (want %d): %s", method, path, errStatus, resp.StatusCode, want, bytes.TrimSpace(raw))
	}
	if len(raw) == 0 {
		return nil, nil
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%s %s: decode %q: %w", method, path, raw, err)
	}
	return out, nil
}
