package engine_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine"
)

// A sandbox cannot write more than its disk: past it the write fails with
// ENOSPC inside, df shows its own size, and the host's file only holds
// what the sandbox wrote. Its files survive a task restart on a disk that
// had to be mounted again (as after a host reboot).
func TestSandboxDiskBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	img := e.pullSandboxImage(t, "disk")
	const disk = 64 << 20
	sb := e.start(t, img, func(s *core.SandboxSpec) { s.DiskBytes = disk })

	fields := strings.Fields(e.sh(t, sb, "df -k / | tail -n 1"))
	if len(fields) < 2 {
		t.Fatalf("df printed %q", fields)
	}
	size, _ := strconv.ParseInt(fields[1], 10, 64)
	if size*1024 > disk || size*1024 < disk/2 {
		t.Errorf("df in the sandbox reports %d KiB, want about %d KiB", size, disk>>10)
	}

	var out, errb bytes.Buffer
	code, err := e.eng.Exec(t.Context(), sb, []string{"/bin/sh", "-c", "dd if=/dev/zero of=/big bs=1M count=200"}, nil, nil, &out, &errb)
	if err != nil || code == 0 || !strings.Contains(errb.String(), "No space left") {
		t.Fatalf("writing 200 MiB on a 64 MiB disk = %d, %v; stderr %q; want ENOSPC", code, err, errb.String())
	}
	imgFile := e.diskImage(t, sb)
	var st syscall.Stat_t
	if err := syscall.Stat(imgFile, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > disk+(1<<20) {
		t.Errorf("the host holds %d bytes for a %d-byte disk", st.Blocks*512, disk)
	}
	e.sh(t, sb, "rm /big && echo kept > /kept")

	// The task dies and the disk is no longer mounted (a host restart):
	// a start mounts it again, with the sandbox's files.
	e.killTask(t, sb)
	e.unmountDisk(t, sb)
	if err := e.eng.StartSandbox(t.Context(), core.SandboxSpec{ID: sb, Image: img, DiskBytes: disk}); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if got := e.sh(t, sb, "cat /kept"); got != "kept\n" {
		t.Errorf("after the restart /kept = %q", got)
	}
	if err := e.eng.KillSandbox(t.Context(), sb); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(imgFile); !os.IsNotExist(err) {
		t.Errorf("disk image after kill: %v, want it removed", err)
	}
}

// diskImage finds the one disk image of sandbox id under the engine's
// disk directory.
func (e *env) diskImage(t *testing.T, id string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(e.diskDir, "*", id+".img"))
	if len(m) != 1 {
		t.Fatalf("disk images of %s: %v", id, m)
	}
	return m[0]
}

func (e *env) killTask(t *testing.T, id string) {
	t.Helper()
	ctx := e.nsCtx(t.Context())
	task := e.task(t, id)
	exited, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}

// unmountDisk unmounts sandbox id's disk as a host restart would.
func (e *env) unmountDisk(t *testing.T, id string) {
	t.Helper()
	ctx := e.nsCtx(context.WithoutCancel(t.Context()))
	c, err := e.raw.LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := e.raw.SnapshotService(info.Snapshotter).Mounts(ctx, info.SnapshotKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range mounts[0].Options {
		if v, ok := strings.CutPrefix(o, "upperdir="); ok {
			if err := syscall.Unmount(filepath.Dir(v), 0); err != nil {
				t.Fatalf("unmount disk: %v", err)
			}
			return
		}
	}
	t.Fatalf("no upper directory in %v", mounts)
}

// An engine whose mounts would not reach containerd (it runs in a mount
// namespace of its own, without propagation) refuses to start with disks
// rather than let sandboxes write past them unseen. The test runs itself
// again under unshare(1) for that.
func TestDisksNeedMountsToReachContainerd(t *testing.T) {
	if os.Getenv("SNAPGATE_TEST_CHILD") == "disks" {
		_, err := engine.New(t.Context(), engine.Options{Address: ctrAddress, Namespace: "snapgate-test-child", DiskDir: t.TempDir()})
		if !errors.Is(err, engine.ErrNoDisks) {
			t.Fatalf("engine.New in a private mount namespace = %v, want ErrNoDisks", err)
		}
		t.Log(err)
		return
	}
	requireContainerd(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1)")
	}
	cmd := exec.CommandContext(t.Context(), "unshare", "--mount", "--propagation", "private",
		os.Args[0], "-test.run=^TestDisksNeedMountsToReachContainerd$", "-test.v")
	cmd.Env = append(os.Environ(), "SNAPGATE_TEST_CHILD=disks")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "do not reach containerd") {
		t.Errorf("child: %v\n%s", err, out)
	}
}

// A sparse file costs a sandbox nothing on its disk, but a layer tar holds
// it whole: a capture of a 1 TiB sparse file is refused, not written to
// the host's disk, and leaves nothing behind. Truncated back, the same
// sandbox captures.
func TestCaptureRefusesSparseFileBeyondDisk(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	sb := e.start(t, e.pullSandboxImage(t, "sparse"), func(s *core.SandboxSpec) { s.DiskBytes = 64 << 20 })
	e.sh(t, sb, "truncate -s 1099511627776 /sparse && echo ok > /small")
	name := core.ImageRefFor("sparse-1")
	_, err := e.eng.CaptureSandbox(t.Context(), core.CaptureRequest{SandboxID: sb, Name: name})
	if !errors.Is(err, core.ErrFailedPrecondition) {
		t.Fatalf("capture of a 1 TiB sparse file = %v, want ErrFailedPrecondition", err)
	}
	if imgs, _ := e.eng.ListImages(t.Context()); slices.Contains(imgs, name) {
		t.Errorf("a refused capture left image %s", name)
	}
	e.sh(t, sb, "truncate -s 1M /sparse")
	if _, err := e.eng.CaptureSandbox(t.Context(), core.CaptureRequest{SandboxID: sb, Name: name}); err != nil {
		t.Fatalf("capture after shrinking: %v", err)
	}
	sb2 := e.start(t, name)
	if got := e.sh(t, sb2, "cat /small; stat -c %s /sparse"); got != "ok\n1048576\n" {
		t.Errorf("captured sandbox: %q", got)
	}
}
