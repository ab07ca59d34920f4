package main

// Crash tests: the real server process (this test binary running main),
// killed with SIGKILL (SNAPGATE_FAULT) at a named point of a build, a
// capture or a sandbox start, then restarted; and a private containerd
// restarted under a running server. Afterwards every record must be final
// and true, and containerd must hold nothing no record points to.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/opencontainers/image-spec/identity"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine"
	"github.com/snapgate/snapgate/store"
	"github.com/snapgate/snapgate/tests/testenv"
	"github.com/snapgate/snapgate/tests/testregistry"
)

// crashChildEnv makes the test binary run the server (main) instead of
// the tests: the crash tests start it as the real process they kill, with
// no separate build to wait for.
const crashChildEnv = "SNAPGATE_CRASH_TEST_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// crashNode is one snapgate node (data dir, namespace, node name) whose
// process the test starts, kills and restarts.
type crashNode struct {
	t       *testing.T
	bin     string
	env     map[string]string
	ns      string
	key     string
	url     string
	ctr     *containerd.Client
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// newCrashNode makes a node on the containerd at addr.
func newCrashNode(t *testing.T, reg *testregistry.Registry, addr string) *crashNode {
	t.Helper()
	dir := t.TempDir()
	suffix := testenv.RandomSuffix()
	n := &crashNode{
		t: t, bin: os.Args[0], ns: "snapgate-crash-" + suffix,
		key: "e2b_" + strings.Repeat("cd", 20), logPath: filepath.Join(dir, "server.log"),
	}
	n.env = map[string]string{
		"SNAPGATE_DATA_DIR": dir, "SNAPGATE_CONTAINERD_ADDRESS": addr,
		"SNAPGATE_CONTAINERD_NAMESPACE": n.ns, "SNAPGATE_INSECURE_REGISTRIES": reg.Addr(),
		"SNAPGATE_NODE_NAME": "crash-" + suffix, "SNAPGATE_BOOTSTRAP_TENANT": "crash",
		"SNAPGATE_BOOTSTRAP_API_KEY": n.key, "SNAPGATE_WARM_POOL": "0",
	}
	c, err := containerd.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	n.ctr = c
	t.Cleanup(func() {
		n.stop()
		n.wipe()
		_ = c.Close()
		if t.Failed() {
			if raw, err := os.ReadFile(n.logPath); err == nil {
				t.Logf("server log:\n%s", raw)
			}
		}
	})
	return n
}

// start runs the binary, with fault as SNAPGATE_FAULT, until it answers.
func (n *crashNode) start(fault string) {
	n.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.t.Fatal(err)
	}
	listen := ln.Addr().String()
	_ = ln.Close()
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		n.t.Fatal(err)
	}
	fmt.Fprintf(logf, "--- start fault=%q\n", fault)
	n.cmd = exec.Command(n.bin, "serve")
	n.cmd.Env = append(os.Environ(), crashChildEnv+"=1", "SNAPGATE_LISTEN="+listen, "SNAPGATE_FAULT="+fault)
	for k, v := range n.env {
		n.cmd.Env = append(n.cmd.Env, k+"="+v)
	}
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}(n.cmd, n.exited)
	n.url = "http://" + listen
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-n.exited:
			n.t.Fatalf("server exited at start: %v", n.cmd.ProcessState)
		default:
		}
		if resp, err := http.Get(n.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	n.t.Fatal("server did not become ready within 20s")
}

// died waits for the process to have killed itself with SIGKILL.
func (n *crashNode) died() {
	n.t.Helper()
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		n.t.Fatal("the fault point was not reached within 30s")
	}
	ws, ok := n.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		n.t.Fatalf("server ended with %v, want killed by SIGKILL at the fault point", n.cmd.ProcessState)
	}
	n.cmd = nil
}

// stop ends a running server with SIGTERM (SIGKILL after 20 s).
func (n *crashNode) stop() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
	n.cmd = nil
}

// do sends one request; err is set when the connection broke (the server
// died while answering).
func (n *crashNode) do(method, path, body string) (int, map[string]any, error) {
	req, _ := http.NewRequest(method, n.url+path, strings.NewReader(body))
	req.Header.Set("X-Api-Key", n.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, nil
}

func (n *crashNode) must(method, path, body string, want int) map[string]any {
	n.t.Helper()
	code, out, err := n.do(method, path, body)
	if err != nil || code != want {
		n.t.Fatalf("%s %s: %d %v %v, want %d", method, path, code, out, err, want)
	}
	return out
}

// goneWithReason checks that sandbox id, which the API no longer shows as
// live, is recorded failed with a reason (read from the store itself, as
// the API answers 404 for sandboxes that are not live).
func (n *crashNode) goneWithReason(id, want string) {
	n.t.Helper()
	st, err := store.Open(n.t.Context(), filepath.Join(n.env["SNAPGATE_DATA_DIR"], "snapgate.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		n.t.Fatal(err)
	}
	defer st.Close()
	sb, err := st.GetSandbox(n.t.Context(), "", id)
	if err != nil {
		n.t.Fatal(err)
	}
	if sb.State != core.SandboxFailed || !strings.Contains(sb.StatusMessage, want) {
		n.t.Fatalf("sandbox %s is %s (%q), want failed with a reason saying %q", id, sb.State, sb.StatusMessage, want)
	}
}

func (n *crashNode) createSnapshot(name, image string) string {
	n.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "docker_image": image, "fs_capacity_bytes": 1 << 30})
	return n.must("POST", "/api/v2/sandboxes/snapshots", string(body), 201)["id"].(string)
}

// settled polls path until field leaves the pending values.
func (n *crashNode) settled(path, field string, pending ...string) map[string]any {
	n.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out := n.must("GET", path, "", 200)
		if !slices.Contains(pending, fmt.Sprint(out[field])) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.t.Fatalf("%s: %s still in %v after 30s", path, field, pending)
	return nil
}

func (n *crashNode) readySnapshot(name, image string) string {
	n.t.Helper()
	id := n.createSnapshot(name, image)
	if got := n.settled("/api/v2/sandboxes/snapshots/"+id, "status", "building"); got["status"] != "ready" {
		n.t.Fatalf("snapshot %s: %v", name, got)
	}
	return id
}

func (n *crashNode) startSandbox(snapshotID string) string {
	n.t.Helper()
	return n.must("POST", "/v2/sandboxes", `{"templateID":"`+snapshotID+`","timeout":600}`, 201)["sandboxID"].(string)
}

// pushTestImage serves a busybox image unique to the test.
func pushTestImage(t *testing.T) (*testregistry.Registry, string) {
	t.Helper()
	reg, err := testregistry.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	img, err := testregistry.BusyboxImage(testregistry.WithFile("/etc/test-id", []byte(t.Name()+testenv.RandomSuffix())))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Push(t.Context(), "busybox", "latest", img); err != nil {
		t.Fatal(err)
	}
	return reg, reg.Ref("busybox", "latest")
}

// TestCrashRecovery kills the server at each fault point and checks what
// the restarted server reports and what containerd holds.
func TestCrashRecovery(t *testing.T) {
	testenv.Containerd(t)
	reg, image := pushTestImage(t)
	survived := 0
	for _, tc := range []struct {
		point string
		run   func(t *testing.T, n *crashNode)
	}{
		{core.FaultBuildAfterPull, func(t *testing.T, n *crashNode) {
			id := n.createSnapshot("crash-build", image)
			n.died()
			n.start("")
			if got := n.settled("/api/v2/sandboxes/snapshots/"+id, "status", "building"); got["status"] != "ready" {
				t.Fatalf("interrupted build after restart: %v, want ready", got)
			}
			n.startSandbox(id) // ready means usable
		}},
		{engine.FaultCaptureAfterFreeze, func(t *testing.T, n *crashNode) { crashCapture(t, n, image) }},
		{core.FaultCaptureBeforeRecord, func(t *testing.T, n *crashNode) { crashCapture(t, n, image) }},
		{core.FaultSandboxAfterContainer, func(t *testing.T, n *crashNode) {
			id := n.readySnapshot("crash-box-src", image)
			if _, _, err := n.do("POST", "/v2/sandboxes", `{"templateID":"`+id+`","timeout":600}`); err == nil {
				t.Fatal("sandbox create answered although the server was to die")
			}
			n.died()
			cs, err := n.ctr.Containers(namespaces.WithNamespace(t.Context(), n.ns))
			if err != nil || len(cs) != 1 {
				t.Fatalf("containers left by the dead server: %v %v, want its one sandbox", cs, err)
			}
			n.start("")
			path := "/api/v2/sandboxes/boxes/" + cs[0].ID()
			deadline := time.Now().Add(30 * time.Second)
			for {
				code, got, err := n.do("GET", path, "")
				if err != nil {
					t.Fatal(err)
				}
				if code == 404 || (code == 200 && got["status"] == "failed") {
					n.goneWithReason(cs[0].ID(), "stopped while starting")
					break // reported gone
				}
				if code != 200 || got["status"] != "provisioning" || time.Now().After(deadline) {
					t.Fatalf("sandbox whose start was cut off: %d %v, want failed with a reason or 404", code, got)
				}
				time.Sleep(50 * time.Millisecond)
			}
			n.startSandbox(id) // the node still starts sandboxes
		}},
	} {
		t.Run(tc.point, func(t *testing.T) {
			n := newCrashNode(t, reg, testenv.Containerd(t))
			n.start(tc.point)
			tc.run(t, n)
			n.consistent()
			survived++
		})
	}
	t.Logf("faults injected and survived: %d", survived)
}

// TestContainerdRestart restarts a private containerd under a running
// server, with one sandbox's process killed while containerd is down: that
// sandbox is reported failed, the other keeps running, and new sandboxes
// start once containerd is back.
func TestContainerdRestart(t *testing.T) {
	testenv.Containerd(t) // skips (or fails in CI) where containerd cannot run
	dir := t.TempDir()
	addr := containerdCtl(t, "up", dir)
	t.Cleanup(func() { containerdCtl(t, "down", dir) })
	reg, image := pushTestImage(t)
	n := newCrashNode(t, reg, addr)
	n.env["SNAPGATE_RECONCILE_INTERVAL"] = "500ms"
	n.start("")
	snap := n.readySnapshot("restart-src", image)
	keep, lose := n.startSandbox(snap), n.startSandbox(snap)
	ctx := namespaces.WithNamespace(t.Context(), n.ns)
	c, err := n.ctr.LoadContainer(ctx, lose)
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := int(task.Pid())

	containerdCtl(t, "down", dir)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill sandbox %s process %d: %v", lose, pid, err)
	}
	if _, _, err := n.do("GET", "/api/v2/sandboxes/boxes/"+keep, ""); err != nil {
		t.Fatalf("server stopped answering with containerd down: %v", err)
	}
	if got := containerdCtl(t, "up", dir); got != addr {
		t.Fatalf("containerd came back on %s, not %s", got, addr)
	}

	code, got := 0, map[string]any{}
	deadline := time.Now().Add(20 * time.Second)
	for ; time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if code, got, err = n.do("GET", "/api/v2/sandboxes/boxes/"+lose, ""); err != nil {
			t.Fatal(err)
		}
		if code == 404 || got["status"] == "failed" {
			break
		}
	}
	if code != 404 && got["status"] != "failed" {
		t.Fatalf("sandbox whose process died with containerd down: %d %v, want failed or gone", code, got)
	}
	n.goneWithReason(lose, "sandbox lost")
	if box := n.must("GET", "/api/v2/sandboxes/boxes/"+keep, "", 200); box["status"] != "ready" {
		t.Fatalf("sandbox that kept running: %v", box)
	}
	n.startSandbox(snap) // the server reconnected
	n.consistent()
}

// containerdCtl runs deploy/containerd.sh on a private containerd kept
// under dir and returns what it prints (the socket, for up).
func containerdCtl(t *testing.T, action, dir string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "deploy", "containerd.sh"), action, dir)
	// Never the shared daemon: up must start one of its own under dir.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SNAPGATE_CONTAINERD_ADDRESS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("containerd.sh %s: %v: %s", action, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// crashCapture captures a running sandbox with the server set to die
// during the capture, then checks the restarted server failed the capture
// with a reason and kept the sandbox running.
func crashCapture(t *testing.T, n *crashNode, image string) {
	src := n.readySnapshot("crash-cap-src", image)
	sb := n.startSandbox(src)
	if _, _, err := n.do("POST", "/sandboxes/"+sb+"/snapshots", `{"name":"crash-cap"}`); err == nil {
		t.Fatal("capture answered although the server was to die")
	}
	n.died()
	n.start("")
	got := n.settled("/api/v2/sandboxes/snapshots/crash-cap", "status", "building")
	if got["status"] != "failed" || !strings.Contains(fmt.Sprint(got["status_message"]), "interrupted") {
		t.Fatalf("interrupted capture after restart: %v, want failed with a reason", got)
	}
	box := n.settled("/api/v2/sandboxes/boxes/"+sb, "status", "stopped")
	if box["status"] != "ready" {
		t.Fatalf("captured sandbox after restart: %v, want running", box)
	}
	// It runs for real: a new capture of it works.
	n.must("POST", "/sandboxes/"+sb+"/snapshots", `{"name":"crash-cap-again"}`, 201)
}

// consistent waits until containerd holds exactly what the records point
// to: an image per ready snapshot, a container and running task per live
// sandbox, the snapshots those use, and no lease.
func (n *crashNode) consistent() {
	n.t.Helper()
	var diff []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		diff = n.inventoryDiff()
		if len(diff) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, d := range diff {
		n.t.Error(d)
	}
}

func (n *crashNode) inventoryDiff() []string {
	ctx := namespaces.WithNamespace(context.Background(), n.ns)
	var wantImages, wantBoxes []string
	for _, s := range n.must("GET", "/api/v2/sandboxes/snapshots?limit=100", "", 200)["snapshots"].([]any) {
		s := s.(map[string]any)
		switch s["status"] {
		case "ready":
			wantImages = append(wantImages, core.ImageRefFor(s["id"].(string)))
		case "failed":
			if s["status_message"] == "" || s["status_message"] == nil {
				return []string{fmt.Sprintf("snapshot failed without a reason: %v", s)}
			}
		default:
			return []string{fmt.Sprintf("snapshot not final: %v", s)}
		}
	}
	for _, b := range n.must("GET", "/api/v2/sandboxes/boxes", "", 200)["sandboxes"].([]any) {
		b := b.(map[string]any)
		switch b["status"] {
		case "ready", "stopped":
			wantBoxes = append(wantBoxes, b["id"].(string))
		case "provisioning", "deleting":
			return []string{fmt.Sprintf("sandbox not final: %v", b)}
		}
	}
	var diff []string
	check := func(what string, got, want []string) {
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			diff = append(diff, fmt.Sprintf("containerd %s = %v, records point to %v", what, got, want))
		}
	}
	imgs, err := n.ctr.ImageService().List(ctx)
	if err != nil {
		return []string{err.Error()}
	}
	var gotImages []string
	reachable := map[string]bool{}
	for _, img := range imgs {
		gotImages = append(gotImages, img.Name)
		diffIDs, err := containerd.NewImage(n.ctr, img).RootFS(ctx)
		if err != nil {
			return []string{fmt.Sprintf("rootfs of %s: %v", img.Name, err)}
		}
		reachable[identity.ChainID(diffIDs).String()] = true
	}
	check("images", gotImages, wantImages)
	cs, err := n.ctr.Containers(ctx)
	if err != nil {
		return []string{err.Error()}
	}
	var gotBoxes []string
	for _, c := range cs {
		gotBoxes = append(gotBoxes, c.ID())
		if info, err := c.Info(ctx); err == nil {
			reachable[info.SnapshotKey] = true
		}
	}
	check("containers", gotBoxes, wantBoxes)
	tasks, err := n.ctr.TaskService().List(ctx, nil)
	if err != nil {
		return []string{err.Error()}
	}
	var gotTasks []string
	for _, tk := range tasks.Tasks {
		gotTasks = append(gotTasks, tk.ID)
	}
	check("tasks", gotTasks, wantBoxes)
	ls, err := n.ctr.LeasesService().List(ctx)
	if err != nil {
		return []string{err.Error()}
	}
	var gotLeases []string
	for _, l := range ls {
		gotLeases = append(gotLeases, l.ID)
	}
	check("leases", gotLeases, nil)
	return append(diff, n.snapshotDiff(ctx, reachable)...)
}

// snapshotDiff lists snapshots that are neither used by an image or a
// container nor a parent of one that is.
func (n *crashNode) snapshotDiff(ctx context.Context, reachable map[string]bool) []string {
	sn := n.ctr.SnapshotService(engine.DefaultSnapshotter)
	parents := map[string]string{}
	if err := sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		parents[info.Name] = info.Parent
		return nil
	}); err != nil {
		return []string{err.Error()}
	}
	for key := range reachable {
		for p := parents[key]; p != "" && !reachable[p]; p = parents[p] {
			reachable[p] = true
		}
	}
	var diff []string
	for name := range parents {
		if !reachable[name] {
			diff = append(diff, "containerd snapshot "+name+" is used by no image or container")
		}
	}
	return diff
}

// wipe removes everything the test's namespace holds, then the namespace.
func (n *crashNode) wipe() {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), n.ns), 30*time.Second)
	defer cancel()
	testenv.ReleaseDisks(n.t, n.env["SNAPGATE_DATA_DIR"])
	cs, _ := n.ctr.Containers(ctx)
	for _, c := range cs {
		if task, err := c.Task(ctx, nil); err == nil {
			_, _ = task.Delete(ctx, containerd.WithProcessKill)
		}
		_ = c.Delete(ctx, containerd.WithSnapshotCleanup)
	}
	imgs, _ := n.ctr.ImageService().List(ctx)
	for _, img := range imgs {
		_ = n.ctr.ImageService().Delete(ctx, img.Name, images.SynchronousDelete())
	}
	ls, _ := n.ctr.LeasesService().List(ctx)
	for _, l := range ls {
		_ = n.ctr.LeasesService().Delete(ctx, l, leases.SynchronousDelete)
	}
	if err := n.ctr.NamespaceService().Delete(ctx, n.ns); err != nil && !errors.Is(err, context.Canceled) {
		n.t.Logf("drop namespace %s: %v", n.ns, err)
	}
}
