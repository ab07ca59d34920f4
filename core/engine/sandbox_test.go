package engine_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/tests/testregistry"
)

// pullSandboxImage pushes a busybox image unique to this test and tag (see
// env.image) and pulls it; it returns the engine image name.
func (e *env) pullSandboxImage(t *testing.T, tag string, opts ...testregistry.ImageOption) string {
	t.Helper()
	opts = append([]testregistry.ImageOption{testregistry.WithFile("/etc/snapgate-test", []byte(e.ns+" "+tag))}, opts...)
	img, err := testregistry.BusyboxImage(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Push(t.Context(), "sandbox", tag, img); err != nil {
		t.Fatal(err)
	}
	name := core.ImageRefFor(tag)
	if _, err := e.eng.Pull(t.Context(), core.PullRequest{Name: name, Source: e.reg.Ref("sandbox", tag)}); err != nil {
		t.Fatalf("Pull: %v", err)
	}
	return name
}

// start starts a sandbox from image and returns its id.
func (e *env) start(t *testing.T, image string, tweak ...func(*core.SandboxSpec)) string {
	t.Helper()
	spec := core.SandboxSpec{ID: "sb-" + randomHex(4), Image: image, VCPUs: 1, MemoryBytes: 256 << 20, Hostname: "box", DiskBytes: testDisk}
	for _, f := range tweak {
		f(&spec)
	}
	if err := e.eng.StartSandbox(t.Context(), spec); err != nil {
		t.Fatalf("StartSandbox(%s): %v", spec.ID, err)
	}
	return spec.ID
}

// sh runs script with /bin/sh in sandbox id as root and returns stdout;
// a non-zero exit fails the test.
func (e *env) sh(t *testing.T, id, script string) string {
	t.Helper()
	var out, errb bytes.Buffer
	code, err := e.eng.Exec(t.Context(), id, []string{"/bin/sh", "-c", script}, nil, nil, &out, &errb)
	if err != nil || code != 0 {
		t.Fatalf("exec %q = %d, %v; stderr: %s", script, code, err, errb.String())
	}
	return out.String()
}

func (e *env) wantState(t *testing.T, id string, want core.RuntimeState) {
	t.Helper()
	got, err := e.eng.SandboxState(t.Context(), id)
	if err != nil || got != want {
		t.Fatalf("SandboxState(%s) = %q, %v; want %q", id, got, err, want)
	}
}

func TestSandboxStartExecAndLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	img := e.pullSandboxImage(t, "lifecycle")
	id := e.start(t, img, func(s *core.SandboxSpec) {
		s.VCPUs, s.MemoryBytes = 2, 128<<20
		s.Env = map[string]string{"GREETING": "hello", "PATH": "/bin:/custom"}
	})
	e.wantState(t, id, core.RuntimeRunning)
	if err := e.eng.StartSandbox(ctx, core.SandboxSpec{ID: id, Image: img}); err != nil {
		t.Errorf("StartSandbox of a running sandbox = %v, want nil", err)
	}
	if ids, err := e.eng.ListSandboxContainers(ctx); err != nil || len(ids) != 1 || ids[0] != id {
		t.Errorf("ListSandboxContainers = %v, %v; want [%s]", ids, err, id)
	}

	if got := e.sh(t, id, `echo "$GREETING $PATH $(hostname)"`); got != "hello /bin:/custom box\n" {
		t.Errorf("env and hostname: %q", got)
	}
	var out, errb bytes.Buffer
	code, err := e.eng.Exec(ctx, id, []string{"sh", "-c", "cat; echo err >&2; exit 3"}, []string{"X=1"},
		strings.NewReader("from stdin"), &out, &errb)
	if err != nil || code != 3 || out.String() != "from stdin" || errb.String() != "err\n" {
		t.Errorf("Exec = %d, %v, stdout %q, stderr %q; want 3, nil, the stdin, err", code, err, out.String(), errb.String())
	}
	if code, err := e.eng.Exec(ctx, id, []string{"/no/such/binary"}, nil, nil, nil, nil); err != nil || code != 127 {
		t.Errorf("Exec of a missing binary = %d, %v; want 127, nil", code, err)
	}
	if got := e.sh(t, id, `id -u; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '`); got != "0\nlo\n" {
		t.Errorf("uid and network interfaces = %q, want root and only lo", got)
	}

	cg := func(ctrl, file string) string {
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, e.ns, id, file))
		if err != nil {
			t.Skipf("cgroup v1 file not readable (%v); limits not checked", err)
		}
		return strings.TrimSpace(string(b))
	}
	if got := cg("memory", "memory.limit_in_bytes"); got != "134217728" {
		t.Errorf("memory.limit_in_bytes = %s, want 134217728", got)
	}
	if got := cg("cpu", "cpu.cfs_quota_us") + "/" + cg("cpu", "cpu.cfs_period_us"); got != "200000/100000" {
		t.Errorf("cfs quota/period = %s, want 200000/100000", got)
	}
	if got := cg("pids", "pids.max"); got != "4096" {
		t.Errorf("pids.max = %s, want 4096", got)
	}
}

func TestSandboxPauseResumeKill(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	id := e.start(t, e.pullSandboxImage(t, "pause"))
	e.sh(t, id, `sh -c 'while true; do date > /tmp/tick; done' >/dev/null 2>&1 &`)

	for range 2 { // pausing a paused sandbox is success
		if err := e.eng.PauseSandbox(ctx, id); err != nil {
			t.Fatalf("PauseSandbox: %v", err)
		}
	}
	e.wantState(t, id, core.RuntimePaused)
	_, err := e.eng.Exec(ctx, id, []string{"true"}, nil, nil, nil, nil)
	if !errors.Is(err, core.ErrFailedPrecondition) {
		t.Errorf("Exec in a paused sandbox = %v, want ErrFailedPrecondition", err)
	}
	for range 2 {
		if err := e.eng.ResumeSandbox(ctx, id); err != nil {
			t.Fatalf("ResumeSandbox: %v", err)
		}
	}
	e.wantState(t, id, core.RuntimeRunning)
	e.sh(t, id, "true")

	// A paused sandbox is captured as it is and stays paused.
	if err := e.eng.PauseSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: id, Name: core.ImageRefFor("paused")}); err != nil {
		t.Errorf("CaptureSandbox of a paused sandbox: %v", err)
	}
	e.wantState(t, id, core.RuntimePaused)

	// Kill a paused sandbox: the frozen task must still die.
	start := time.Now()
	if err := e.eng.KillSandbox(ctx, id); err != nil {
		t.Fatalf("KillSandbox of a paused sandbox: %v", err)
	}
	t.Logf("kill of a paused sandbox took %v", time.Since(start))
	e.wantState(t, id, core.RuntimeMissing)
	if err := e.eng.KillSandbox(ctx, id); err != nil {
		t.Errorf("KillSandbox again = %v, want nil", err)
	}
	e.wantGone(t, id)
}

// wantGone checks that every operation on a killed sandbox is ErrNotFound
// and that it is no longer listed.
func (e *env) wantGone(t *testing.T, id string) {
	t.Helper()
	ctx := t.Context()
	for name, op := range map[string]func() error{
		"PauseSandbox":  func() error { return e.eng.PauseSandbox(ctx, id) },
		"ResumeSandbox": func() error { return e.eng.ResumeSandbox(ctx, id) },
		"Exec":          func() error { _, err := e.eng.Exec(ctx, id, []string{"true"}, nil, nil, nil, nil); return err },
		"CaptureSandbox": func() error {
			_, err := e.eng.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: id, Name: core.ImageRefFor("x")})
			return err
		},
	} {
		if err := op(); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("%s of a killed sandbox = %v, want ErrNotFound", name, err)
		}
	}
	if ids, _ := e.eng.ListSandboxContainers(ctx); len(ids) != 0 {
		t.Errorf("ListSandboxContainers after kill = %v", ids)
	}
}

// A container whose task died is "stopped", and StartSandbox gives it a
// new task with the files it had.
func TestSandboxRestartsStoppedTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	img := e.pullSandboxImage(t, "stopped")
	id := e.start(t, img)
	e.sh(t, id, "echo kept > /root/file")

	e.stopTask(t, id)
	e.wantState(t, id, core.RuntimeStopped)
	if err := e.eng.PauseSandbox(ctx, id); !errors.Is(err, core.ErrFailedPrecondition) {
		t.Errorf("PauseSandbox of a stopped sandbox = %v, want ErrFailedPrecondition", err)
	}
	if _, err := e.eng.Exec(ctx, id, []string{"true"}, nil, nil, nil, nil); !errors.Is(err, core.ErrFailedPrecondition) {
		t.Errorf("Exec in a stopped sandbox = %v, want ErrFailedPrecondition", err)
	}
	// A stopped sandbox's files can be captured: nothing writes them.
	captured := core.ImageRefFor("stopped-capture")
	if _, err := e.eng.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: id, Name: captured}); err != nil {
		t.Fatalf("CaptureSandbox of a stopped sandbox: %v", err)
	}
	if got := e.sh(t, e.start(t, captured), "cat /root/file"); got != "kept\n" {
		t.Errorf("file in the capture of a stopped sandbox = %q", got)
	}
	if err := e.eng.StartSandbox(ctx, core.SandboxSpec{ID: id, Image: img}); err != nil {
		t.Fatalf("StartSandbox of a stopped sandbox: %v", err)
	}
	e.wantState(t, id, core.RuntimeRunning)
	if got := e.sh(t, id, "cat /root/file"); got != "kept\n" {
		t.Errorf("file after restart = %q", got)
	}
}

// The sandbox's process comes from the host, so an image with no shell
// and no libc makes a sandbox too.
func TestSandboxFromImageWithoutShell(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	img := e.pullFilesOnlyImage(t, map[string]string{"/hello.txt": "hi " + e.ns})
	id := e.start(t, img)
	e.wantState(t, id, core.RuntimeRunning)
	var out bytes.Buffer
	code, err := e.eng.Exec(t.Context(), id, []string{"/.snapgate/busybox", "cat", "/hello.txt"}, nil, nil, &out, nil)
	if err != nil || code != 0 || out.String() != "hi "+e.ns {
		t.Errorf("cat through the init busybox = %d, %v, %q", code, err, out.String())
	}
	if code, err := e.eng.Exec(t.Context(), id, []string{"sh"}, nil, nil, nil, nil); err != nil || code != 127 {
		t.Errorf("sh in an image without one = %d, %v; want 127", code, err)
	}
}

func TestStartSandboxErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	err := e.eng.StartSandbox(ctx, core.SandboxSpec{ID: "sb-missing", Image: core.ImageRefFor("missing")})
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("StartSandbox from a missing image = %v, want ErrNotFound", err)
	}
	if st, err := e.eng.SandboxState(ctx, "sb-missing"); err != nil || st != core.RuntimeMissing {
		t.Errorf("state after a failed start = %q, %v; want missing", st, err)
	}
	img := e.pullSandboxImage(t, "noinit")
	eng := e.engineWith(t, func(o *engineOptions) { o.InitBinary = filepath.Join(t.TempDir(), "busybox") })
	err = eng.StartSandbox(ctx, core.SandboxSpec{ID: "sb-noinit", Image: img})
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(core.PublicMessage(err), "init binary") {
		t.Errorf("StartSandbox without the init binary = %v, want ErrUnavailable naming it", err)
	}
	if ids, _ := e.eng.ListSandboxContainers(ctx); len(ids) != 0 {
		t.Errorf("failed starts left containers %v", ids)
	}
}

func TestMemoryCaptureRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	if e.eng.MemorySnapshots() {
		t.Skip("this host can checkpoint memory")
	}
	id := e.start(t, e.pullSandboxImage(t, "memory"))
	_, err := e.eng.CaptureSandbox(t.Context(), core.CaptureRequest{SandboxID: id, Name: core.ImageRefFor("mem"), Memory: true})
	if !errors.Is(err, core.ErrFailedPrecondition) || !strings.Contains(core.PublicMessage(err), "without memory") {
		t.Errorf("memory capture = %v, want ErrFailedPrecondition telling to capture without memory", err)
	}
	e.wantState(t, id, core.RuntimeRunning)
	if names, _ := e.eng.ListImages(t.Context()); len(names) != 1 {
		t.Errorf("images after a refused capture: %v", names)
	}
}

// testDisk is the disk of the sandboxes tests start (start).
const testDisk = 256 << 20
