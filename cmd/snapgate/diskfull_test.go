package main

// Disk full during a build: the snapshot ends failed with a reason a person
// can act on, and every byte the build wrote is given back.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/snapgate/snapgate/tests/testenv"
	"github.com/snapgate/snapgate/tests/testregistry"
)

func TestBuildOnFullDiskFailsAndGivesSpaceBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a tmpfs and starts a private containerd")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "deploy", "containerd.sh")

	// A short path: the private containerd's socket lives under it.
	base, err := os.MkdirTemp("/tmp", "sgdf-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	fs := filepath.Join(base, "fs")
	if err := os.Mkdir(fs, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", fs).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	// Registered after RemoveAll: cleanups run last-in first-out, so the
	// daemon stops, then the tmpfs goes, then the directory.
	t.Cleanup(func() {
		if err := syscall.Unmount(fs, 0); err != nil {
			t.Logf("umount %s: %v; detaching it lazily", fs, err)
			if err := syscall.Unmount(fs, syscall.MNT_DETACH); err != nil {
				t.Errorf("lazy umount %s: %v", fs, err)
			}
		}
	})

	// The script must start a private daemon on the tmpfs, not find another.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SNAPGATE_CONTAINERD_ADDRESS=") {
			env = append(env, kv)
		}
	}
	ctrScript := func(action string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, script, action, fs)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("containerd.sh %s: %w: %s", action, err, stderr.String())
		}
		return strings.TrimSpace(string(out)), nil
	}
	t.Cleanup(func() {
		if _, err := ctrScript("down"); err != nil {
			t.Errorf("stop private containerd: %v", err)
		}
	})
	addr, err := ctrScript("up")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, fs+"/") {
		t.Skipf("containerd.sh found a containerd at %s instead of starting one on the tmpfs", addr)
	}
	baseline := usedBytes(t, fs)
	t.Logf("private containerd at %s; %d KiB used on the tmpfs", addr, baseline>>10)

	dir := t.TempDir() // database and data dir off the small filesystem
	h := newHarness(t, filepath.Join(dir, "snapgate.db"), dir)
	h.cfg.ContainerdAddress = addr
	// ~1.4 MiB compressed, ~80 MiB unpacked: passes the registry and the
	// content store, fills the 40 MiB filesystem while unpacking.
	big, err := testregistry.BusyboxImage(testregistry.WithExtraFiles(20000),
		testregistry.WithFile("/etc/test-id", []byte(t.Name()+testenv.RandomSuffix())))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.reg.Push(t.Context(), "diskfull/big", "latest", big); err != nil {
		t.Fatal(err)
	}
	h.start(true)

	// fs_capacity_bytes is generous: only the disk can stop this build.
	got := h.wait(h.create("too-big-for-disk", h.reg.Ref("diskfull/big", "latest"), 1<<30))
	msg, _ := got["status_message"].(string)
	if got["status"] != "failed" {
		t.Fatalf("build on a full disk: %v, want failed", got)
	}
	if low := strings.ToLower(msg); !strings.Contains(low, "space") && !strings.Contains(low, "disk") {
		t.Errorf("status_message %q does not say the disk is full", msg)
	}
	t.Logf("status_message: %s", msg)

	// Space given back: containerd's GC runs after the lease goes, so poll.
	const tolerance = 4 << 20
	var used uint64
	var left []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		used, left = usedBytes(t, fs), leftovers(t, addr, h.cfg.ContainerdNamespace)
		if (used <= baseline+tolerance && len(left) == 0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d KiB used on the tmpfs after the failed build; left in containerd: %v", used>>10, left)
	if used > baseline+tolerance {
		du, _ := exec.Command("sh", "-c", "du -x -d4 -k "+fs+" | sort -n | tail -15; ls -la "+fs+"/containerd/root/io.containerd.snapshotter.v1.overlayfs/snapshots; grep -iv \"level=info\" "+fs+"/containerd/containerd.log | tail -30").CombinedOutput()
		t.Logf("disk use on the tmpfs and containerd warnings:\n%s", du)
		t.Errorf("%d KiB used on the tmpfs after the failed build, %d KiB before: space not given back", used>>10, baseline>>10)
	}
	if len(left) > 0 {
		t.Errorf("the failed build left in containerd: %v", left)
	}

	// The disk is usable again: a small image still builds.
	if got := h.wait(h.create("small-after-full", h.image, 1<<30)); got["status"] != "ready" {
		t.Errorf("small build after the full disk: %v, want ready", got)
	}
}

// usedBytes is what df reports as used on the filesystem holding path.
func usedBytes(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return (st.Blocks - st.Bfree) * uint64(st.Bsize)
}

// leftovers lists the images, leases and snapshots in namespace ns.
func leftovers(t *testing.T, addr, ns string) []string {
	t.Helper()
	c, err := containerd.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(t.Context(), ns)
	var out []string
	imgs, err := c.ImageService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range imgs {
		out = append(out, "image "+i.Name)
	}
	ls, err := c.LeasesService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		out = append(out, "lease "+l.ID)
	}
	err = c.SnapshotService(defaults.DefaultSnapshotter).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		out = append(out, "snapshot "+info.Name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
