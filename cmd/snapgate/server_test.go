package main

// Integration tests of the wired server: real containerd, real SQLite file
// and real Postgres, images from an in-process registry, driven over HTTP.

import (
	"context"
	"encoding/json"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine"
	"github.com/snapgate/snapgate/tests/testenv"
	"github.com/snapgate/snapgate/tests/testregistry"
)

type harness struct {
	t      *testing.T
	cfg    Config
	srv    *Server
	http   *httptest.Server
	key    string
	stop   func()
	reg    *testregistry.Registry
	image  string // busybox ref in reg
	layers []v1.Hash
	logger *slog.Logger // nil: warnings and errors to t.Log
}

// databases are the store backends every scenario runs on.
func databases(t *testing.T) map[string]func(t *testing.T, dir string) string {
	return map[string]func(t *testing.T, dir string) string{
		"sqlite":   func(t *testing.T, dir string) string { return filepath.Join(dir, "snapgate.db") },
		"postgres": func(t *testing.T, _ string) string { return testenv.Postgres(t) },
	}
}

func newHarness(t *testing.T, dbURL string, dataDir string, regOpts ...testregistry.Option) *harness {
	t.Helper()
	addr := testenv.Containerd(t)
	reg, err := testregistry.Start(t.Context(), regOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	// A unique image per test: containerd shares blobs across namespaces, so
	// a shared image would already be present and never fetched.
	img, err := testregistry.BusyboxImage(testregistry.WithFile("/etc/test-id", []byte(t.Name()+testenv.RandomSuffix())))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Push(t.Context(), "busybox", "latest", img); err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, reg: reg, image: reg.Ref("busybox", "latest")}
	for _, l := range layers {
		d, _ := l.Digest()
		h.layers = append(h.layers, d)
	}
	h.cfg, err = LoadConfig(func(k string) string {
		return map[string]string{
			"SNAPGATE_DATA_DIR": dataDir, "SNAPGATE_DATABASE_URL": dbURL,
			"SNAPGATE_CONTAINERD_ADDRESS": addr, "SNAPGATE_CONTAINERD_NAMESPACE": "snapgate-it-" + testenv.RandomSuffix(),
			"SNAPGATE_INSECURE_REGISTRIES": reg.Addr(), "SNAPGATE_NODE_NAME": "node-" + testenv.RandomSuffix(),
			"SNAPGATE_BOOTSTRAP_TENANT": "it", "SNAPGATE_BOOTSTRAP_API_KEY": "e2b_" + strings.Repeat("ab", 20),
			"SNAPGATE_NODE_VCPUS": "64", // tests start more sandboxes than this machine has cores
			// Quotas and the pids budget default to a share of this host;
			// the tests of them set their own, the others want none.
			"SNAPGATE_QUOTA_SANDBOXES": "0", "SNAPGATE_QUOTA_SNAPSHOTS": "0", "SNAPGATE_QUOTA_STORAGE_BYTES": "0",
			"SNAPGATE_NODE_PIDS": "0",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	h.key = h.cfg.BootstrapAPIKey
	return h
}

// start wires a server on the harness config; run=false leaves the build
// workers off, like a process that dies right after accepting a create.
func (h *harness) start(run bool) {
	h.t.Helper()
	logger := h.logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(testWriter{h.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := NewServer(h.t.Context(), h.cfg, logger)
	if err != nil {
		h.t.Fatal(err)
	}
	h.srv, h.http = srv, httptest.NewServer(srv.Handler)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if run {
		wg.Go(func() { srv.Snapshots.Run(ctx) })
		wg.Go(func() { srv.Sandboxes.Run(ctx) })
	}
	h.stop = func() { cancel(); wg.Wait(); h.http.Close(); srv.Close() }
	h.t.Cleanup(func() {
		if h.stop != nil {
			h.cleanImages()
			h.stop()
			h.stop = nil
			h.dropNamespace()
		}
	})
}

func (h *harness) restart(run bool) {
	h.stop()
	h.stop = nil
	h.start(run)
}

// cleanImages empties the test's containerd namespace: sandboxes a test
// left running (their shims would outlive the test and even containerd),
// then images.
func (h *harness) cleanImages() {
	ctx := context.Background()
	if c, err := containerd.New(h.cfg.ContainerdAddress); err == nil {
		cs, _ := c.Containers(namespaces.WithNamespace(ctx, h.cfg.ContainerdNamespace))
		for _, ct := range cs {
			if err := h.srv.engine.KillSandbox(ctx, ct.ID()); err != nil {
				h.t.Logf("remove leftover container %s: %v", ct.ID(), err)
			}
		}
		c.Close()
	}
	names, _ := h.srv.engine.ListImages(ctx)
	for _, n := range names {
		_ = h.srv.engine.RemoveImage(ctx, n)
	}
}

// dropNamespace removes the test's (now empty) containerd namespace. A
// task left in it is an error: tasks are not namespace records, and one
// whose container was deleted (a `runc init` waiting forever, with its
// shim) would outlive the namespace; a fresh engine on the namespace
// removes it (engine.New reaps tasks without a container).
func (h *harness) dropNamespace() {
	c, err := containerd.New(h.cfg.ContainerdAddress)
	if err != nil {
		h.t.Logf("connect to drop namespace: %v", err)
		return
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), h.cfg.ContainerdNamespace)
	tasks, err := c.TaskService().List(ctx, nil)
	if err != nil {
		h.t.Errorf("list tasks left in %s: %v", h.cfg.ContainerdNamespace, err)
	} else if len(tasks.Tasks) > 0 {
		for _, tk := range tasks.Tasks {
			h.t.Errorf("task %s (pid %d, %s) left in namespace %s", tk.ID, tk.Pid, tk.Status, h.cfg.ContainerdNamespace)
		}
		ectx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		eng, err := engine.New(ectx, engine.Options{Address: h.cfg.ContainerdAddress, Namespace: h.cfg.ContainerdNamespace,
			HostUserNamespace: !h.cfg.SandboxUserNS, IDClaimDir: h.cfg.IDClaimDir, Network: h.cfg.Network})
		if err != nil {
			h.t.Errorf("engine to remove the tasks left: %v", err)
		} else {
			_ = eng.Close()
		}
	}
	if err := c.NamespaceService().Delete(context.Background(), h.cfg.ContainerdNamespace); err != nil {
		h.t.Logf("drop namespace %s: %v", h.cfg.ContainerdNamespace, err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (h *harness) do(method, path, body string) (int, map[string]any) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.http.URL+path, strings.NewReader(body))
	req.Header.Set("X-Api-Key", h.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func (h *harness) create(name, image string, capacity int64) string {
	h.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "docker_image": image, "fs_capacity_bytes": capacity})
	code, out := h.do("POST", "/api/v2/sandboxes/snapshots", string(body))
	if code != 201 || out["status"] != "building" {
		h.t.Fatalf("create %s: %d %v", name, code, out)
	}
	return out["id"].(string)
}

// wait polls like the SDKs do until the snapshot leaves building.
func (h *harness) wait(id string) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		code, out := h.do("GET", "/v2/sandboxes/snapshots/"+id, "")
		if code != 200 {
			h.t.Fatalf("get %s: %d %v", id, code, out)
		}
		if out["status"] != "building" {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("snapshot %s still building after 60s", id)
	return nil
}

func (h *harness) images() []string {
	names, err := h.srv.engine.ListImages(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return names
}

func TestSnapshotLifecycle(t *testing.T) {
	for dbName, db := range databases(t) {
		t.Run(dbName, func(t *testing.T) {
			dir := t.TempDir()
			h := newHarness(t, db(t, dir), dir)
			h.start(true)
			if code, _ := h.do("GET", "/healthz", ""); code != 200 {
				t.Fatalf("healthz = %d", code)
			}
			id := h.create("life", h.image, 1<<30)
			got := h.wait(id)
			if got["status"] != "ready" || !strings.HasPrefix(got["image_digest"].(string), "sha256:") || got["fs_used_bytes"].(float64) < 1e6 {
				t.Fatalf("ready snapshot: %v", got)
			}
			if !slices.Contains(h.images(), core.ImageRefFor(id)) {
				t.Errorf("containerd has no image for %s: %v", id, h.images())
			}
			if code, out := h.do("GET", "/v2/sandboxes/snapshots/life", ""); code != 200 || out["id"] != id {
				t.Errorf("get by name: %d %v", code, out)
			}
			if code, _ := h.do("DELETE", "/v2/sandboxes/snapshots/"+id, ""); code != 204 {
				t.Errorf("delete = %d", code)
			}
			if code, _ := h.do("GET", "/v2/sandboxes/snapshots/"+id, ""); code != 404 {
				t.Errorf("get after delete = %d, want 404", code)
			}
			if slices.Contains(h.images(), core.ImageRefFor(id)) {
				t.Errorf("image of deleted snapshot still in containerd")
			}
		})
	}
}

func TestConcurrentCreatesPullTheImageOnce(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, filepath.Join(dir, "snapgate.db"), dir)
	h.start(true)
	var ids []string
	for i := range 8 {
		ids = append(ids, h.create("same-"+string(rune('a'+i)), h.image, 1<<30))
	}
	for _, id := range ids {
		if got := h.wait(id); got["status"] != "ready" {
			t.Errorf("%s: %v", id, got)
		}
	}
	for _, l := range h.layers {
		if n := h.reg.BlobGets(l.String()); n != 1 {
			t.Errorf("layer %s fetched %d times, want 1", l, n)
		}
	}
	// Deleting one keeps the others usable: content is shared, not owned.
	if code, _ := h.do("DELETE", "/v2/sandboxes/snapshots/"+ids[0], ""); code != 204 {
		t.Fatalf("delete = %d", code)
	}
	if got := h.wait(ids[1]); got["status"] != "ready" {
		t.Errorf("sibling after delete: %v", got)
	}
}

func TestBuildsSurviveRestart(t *testing.T) {
	for dbName, db := range databases(t) {
		t.Run(dbName, func(t *testing.T) {
			dir := t.TempDir()
			h := newHarness(t, db(t, dir), dir)
			h.start(false) // accepts creates, never builds: then "dies"
			ok := h.create("resume-me", h.image, 1<<30)
			bad := h.create("will-fail", h.reg.Ref("busybox", "missing"), 1<<30)
			// The dead process had claimed one of them.
			now := time.Now().UTC()
			if _, err := h.srv.store.ClaimSnapshotBuild(t.Context(), ok, h.cfg.NodeName, now, now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			h.restart(true)
			if got := h.wait(ok); got["status"] != "ready" {
				t.Errorf("resumed build: %v", got)
			}
			got := h.wait(bad)
			if got["status"] != "failed" || !strings.Contains(got["status_message"].(string), "not found") {
				t.Errorf("resumed failing build: %v", got)
			}
		})
	}
}

func TestBuildFailuresAreActionable(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, filepath.Join(dir, "snapgate.db"), dir)
	h.start(true)
	cases := []struct{ name, image, want string }{
		{"unknown-tag", h.reg.Ref("busybox", "nope"), "not found"},
		{"unknown-repo", h.reg.Ref("nothing/here", "latest"), "not found"},
		{"unreachable", "127.0.0.1:1/busybox:latest", "unreachable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := h.wait(h.create(tc.name, tc.image, 1<<30))
			if got["status"] != "failed" || !strings.Contains(got["status_message"].(string), tc.want) {
				t.Errorf("got %v, want failed with %q", got, tc.want)
			}
		})
	}
	t.Run("capacity", func(t *testing.T) {
		got := h.wait(h.create("too-small", h.image, 4096))
		if got["status"] != "failed" || !strings.Contains(got["status_message"].(string), "fs_capacity_bytes") {
			t.Errorf("got %v", got)
		}
	})
	for _, name := range h.images() {
		if strings.HasPrefix(name, core.ImageRefFor("")) {
			t.Errorf("failed builds left image %s", name)
		}
	}
}

func TestPrivateRegistryCredentials(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, filepath.Join(dir, "snapgate.db"), dir, testregistry.WithBasicAuth("robot", "s3cret"))
	h.start(true)
	for _, tc := range []struct{ reg, password, want string }{
		{"good", "s3cret", "ready"},
		{"bad", "wrong", "failed"},
	} {
		body, _ := json.Marshal(map[string]string{"name": tc.reg, "url": h.reg.Addr(), "username": "robot", "password": tc.password})
		code, out := h.do("POST", "/api/v2/sandboxes/registries", string(body))
		if code != 201 {
			t.Fatalf("create registry: %d %v", code, out)
		}
		snap, _ := json.Marshal(map[string]any{"name": "private-" + tc.reg, "docker_image": h.image, "fs_capacity_bytes": 1 << 30, "registry_id": out["id"]})
		code, created := h.do("POST", "/v2/sandboxes/snapshots", string(snap))
		if code != 201 {
			t.Fatalf("create snapshot: %d %v", code, created)
		}
		got := h.wait(created["id"].(string))
		if got["status"] != tc.want {
			t.Errorf("%s credentials: %v, want %s", tc.reg, got, tc.want)
		}
		if tc.want == "failed" && !strings.Contains(got["status_message"].(string), "credentials") {
			t.Errorf("refused credentials message: %q", got["status_message"])
		}
	}
	got := h.wait(h.create("no-creds", h.image, 1<<30))
	if got["status"] != "failed" {
		t.Errorf("pull without credentials from an auth registry: %v", got)
	}
}
