package engine_test

// Integration tests against a real containerd. The address comes from
// SNAPGATE_CONTAINERD_ADDRESS; when unset, TestMain runs
// `deploy/containerd.sh up <repo>/.snapgate-test`, which reuses or starts a
// private containerd. Without one the tests skip, or fail when CI is set.
// Each test works in its own containerd namespace and empties it afterwards.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine"
	"github.com/snapgate/snapgate/tests/testenv"
	"github.com/snapgate/snapgate/tests/testregistry"
)

var (
	ctrAddress string // containerd socket, "" when none
	ctrErr     error  // why there is none
)

func TestMain(m *testing.M) {
	ctrAddress, ctrErr = testenv.FindContainerd()
	if ctrErr == nil {
		ctrErr = ping(ctrAddress)
	}
	os.Exit(m.Run())
}

// ping checks that containerd answers at address.
func ping(address string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	eng, err := engine.New(ctx, engine.Options{Address: address})
	if err != nil {
		return fmt.Errorf("containerd at %s: %w", address, err)
	}
	return eng.Close()
}

// requireContainerd skips (or fails in CI) without a reachable containerd.
func requireContainerd(t *testing.T) {
	t.Helper()
	if ctrErr == nil && ctrAddress != "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("containerd is required in CI: %v", ctrErr)
	}
	t.Skipf("no containerd: %v", ctrErr)
}

// env is one test's engine, namespace, registry and a raw client to check
// containerd's state with.
type env struct {
	eng     *engine.Engine
	raw     *containerd.Client
	ns      string
	reg     *testregistry.Registry
	diskDir string // the engine's DiskDir
}

// nsCtx is ctx in the test's namespace, for raw client calls.
func (e *env) nsCtx(ctx context.Context) context.Context { return namespaces.WithNamespace(ctx, e.ns) }

type envOptions struct {
	regOpts    []testregistry.Option
	noInsecure bool // do not list the registry as plain HTTP
	onCapture  func(paused, total time.Duration)
	forceDiff  bool // captures take the diff-service path
	warmPool   int  // warm sandboxes per image
	// beforeFreeze runs between a fast capture's pre-copy and its freeze.
	beforeFreeze func()
	// fault is engine.Options.Fault (FaultCaptureAfterFreeze: frozen).
	fault func(point string)
	// hostUserNS runs sandboxes in the host's user namespace (the
	// degraded mode, engine.Options.HostUserNamespace).
	hostUserNS bool
	// network puts sandboxes on the node's network (Options.Network).
	network *engine.NetworkOptions
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	requireContainerd(t)
	ctx := t.Context()
	reg, err := testregistry.Start(ctx, o.regOpts...)
	if err != nil {
		t.Fatalf("start registry: %v", err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	e := &env{ns: "snapgate-test-" + randomHex(4), reg: reg, diskDir: t.TempDir()}
	e.raw, err = containerd.New(ctrAddress)
	if err != nil {
		t.Fatalf("containerd client: %v", err)
	}
	opts := engine.Options{Address: ctrAddress, Namespace: e.ns, OnCapture: o.onCapture, WarmPool: o.warmPool,
		DiskDir: e.diskDir, Fault: o.fault, HostUserNamespace: o.hostUserNS, Network: o.network}
	if !o.noInsecure {
		opts.InsecureRegistries = []string{reg.Addr()}
	}
	if e.eng, err = engine.New(ctx, opts); err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	if o.forceDiff {
		engine.ForceDiffCapture(e.eng)
	}
	if o.beforeFreeze != nil {
		engine.SetBeforeCaptureFreeze(e.eng, o.beforeFreeze)
	}
	t.Cleanup(func() { e.cleanup(t) })
	return e
}

// cleanup empties and deletes the test's namespace; leftovers are errors.
func (e *env) cleanup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = e.nsCtx(ctx)
	defer e.raw.Close()
	closed := false
	defer func() {
		if !closed {
			e.eng.Close()
		}
	}()
	ids, err := e.eng.ListSandboxContainers(ctx)
	if err != nil {
		t.Errorf("cleanup: list sandboxes: %v", err)
	}
	for _, id := range ids {
		if err := e.eng.KillSandbox(ctx, id); err != nil {
			t.Errorf("cleanup: kill sandbox %s: %v", id, err)
		}
	}
	names, err := e.eng.ListImages(ctx)
	if err != nil {
		t.Errorf("cleanup: list images: %v", err)
	}
	for _, n := range names {
		if err := e.eng.RemoveImage(ctx, n); err != nil {
			t.Errorf("cleanup: remove %s: %v", n, err)
		}
	}
	// Close waits for warm sandboxes still being made (a start's refill)
	// and removes them.
	closed = true
	if err := e.eng.Close(); err != nil {
		t.Errorf("cleanup: close engine: %v", err)
	}
	// Tasks are no namespace records: one left without its container would
	// outlive the namespace (a `runc init` waiting forever).
	e.reapTasks(t, ctx)
	// A disk still mounted outlives everything here (an engine opened on
	// the namespace without the disk dir kills without releasing it).
	for _, m := range mountedDisks(e.diskDir) {
		t.Errorf("cleanup: sandbox disk still mounted at %s", m)
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	// What those held of removed images goes with a synchronous GC, which
	// deleting a lease triggers.
	if l, err := e.raw.LeasesService().Create(ctx, leases.WithRandomID()); err == nil {
		_ = e.raw.LeasesService().Delete(ctx, l, leases.SynchronousDelete)
	}
	ls, _ := e.raw.LeasesService().List(ctx)
	for _, l := range ls {
		t.Errorf("cleanup: lease %s left behind (labels %v)", l.ID, l.Labels)
		_ = e.raw.LeasesService().Delete(ctx, l, leases.SynchronousDelete)
	}
	// A test that never wrote anything never created its namespace.
	if err := e.raw.NamespaceService().Delete(ctx, e.ns); err != nil && !errdefs.IsNotFound(err) {
		t.Errorf("cleanup: delete namespace %s: %v", e.ns, err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// image builds a busybox image unique to this test: containerd shares
// blobs between namespaces (a blob another test already holds is never
// fetched), so tests that count fetches must not share layers.
func (e *env) image(t *testing.T, tag string) v1.Image {
	t.Helper()
	img, err := testregistry.BusyboxImage(testregistry.WithFile("/etc/snapgate-test", []byte(e.ns+" "+tag)))
	if err != nil {
		t.Fatalf("build image: %v", err)
	}
	return img
}

// push puts a fresh image at repo:tag and returns its reference and digest.
func (e *env) push(t *testing.T, repo, tag string) (ref, digest string, img v1.Image) {
	t.Helper()
	img = e.image(t, repo+":"+tag)
	digest, err := e.reg.Push(t.Context(), repo, tag, img)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return e.reg.Ref(repo, tag), digest, img
}

// blobDigests lists the config and layer digests of img.
func blobDigests(t *testing.T, img v1.Image) (config string, layers []string) {
	t.Helper()
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, d.String())
	}
	return cfg.String(), layers
}

func TestNormalizeReference(t *testing.T) {
	t.Parallel()
	const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	good := []struct{ in, want string }{
		{"busybox", "docker.io/library/busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"library/busybox", "docker.io/library/busybox:latest"},
		{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest"},
		{"someone/tool:v2", "docker.io/someone/tool:v2"},
		{"ghcr.io/org/team/img:v1", "ghcr.io/org/team/img:v1"},
		{"127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest"},
		{"localhost:5000/a/b:c", "localhost:5000/a/b:c"},
		{"busybox@" + dgst, "docker.io/library/busybox@" + dgst},
		{"busybox:1.36@" + dgst, "docker.io/library/busybox@" + dgst},
	}
	var e engine.Engine // NormalizeReference needs no connection
	for _, tc := range good {
		t.Run("good/"+tc.in, func(t *testing.T) {
			got, err := e.NormalizeReference(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("NormalizeReference(%q) = %q, %v; want %q, nil", tc.in, got, err, tc.want)
			}
		})
	}
	bad := []string{
		"", "Busybox", "busybox:", ":latest", "bad ref", "busybox@sha256:abc",
		"http://docker.io/busybox", dgst[len("sha256:"):], "busybox:tag:tag",
		strings.Repeat("a", 513), "a/" + strings.Repeat("b", 300),
	}
	for _, in := range bad {
		name := in
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		t.Run("bad/"+name, func(t *testing.T) {
			got, err := e.NormalizeReference(in)
			if !errors.Is(err, core.ErrInvalidArgument) {
				t.Fatalf("NormalizeReference(%q) = %q, %v; want ErrInvalidArgument", in, got, err)
			}
			if msg := core.PublicMessage(err); !strings.Contains(msg, "docker_image") {
				t.Errorf("message %q does not name docker_image", msg)
			}
		})
	}
}

func TestNewDeletesStaleLeases(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := e.nsCtx(t.Context())
	ls := e.raw.LeasesService()
	stale, err := ls.Create(ctx, leases.WithRandomID(), leases.WithLabel("snapgate/owner", "engine"))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := ls.Create(ctx, leases.WithRandomID(), leases.WithLabel("someone/else", "x"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ls.Delete(e.nsCtx(context.Background()), foreign) })
	time.Sleep(10 * time.Millisecond)

	eng, err := engine.New(t.Context(), engine.Options{Address: ctrAddress, Namespace: e.ns, StaleLeaseAge: time.Millisecond})
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	defer eng.Close()
	left, err := ls.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range left {
		ids = append(ids, l.ID)
	}
	if slices.Contains(ids, stale.ID) || !slices.Contains(ids, foreign.ID) {
		t.Errorf("leases after New = %v; want %s deleted and %s kept", ids, stale.ID, foreign.ID)
	}
}

func TestPingAndUnreachableEngine(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	if err := e.eng.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	// containerd's dialer waits for a missing socket until the deadline.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err := engine.New(ctx, engine.Options{Address: filepath.Join(t.TempDir(), "none.sock")})
	if !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("New on a missing socket = %v, want ErrUnavailable", err)
	}
}

// mountedDisks lists where loop devices backed by files under dir are
// mounted.
func mountedDisks(dir string) []string {
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	devs := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		back := strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)")
		if err != nil || !strings.HasPrefix(back, dir+"/") {
			continue
		}
		if dev, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(f)), "dev")); err == nil {
			devs[strings.TrimSpace(string(dev))] = true
		}
	}
	if len(devs) == 0 {
		return nil
	}
	info, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, l := range strings.Split(string(info), "\n") {
		if f := strings.Fields(l); len(f) > 4 && devs[f[2]] {
			out = append(out, f[4])
		}
	}
	return out
}
