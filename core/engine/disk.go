package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/snapgate/snapgate/core"
)

// A sandbox's disk bound. Overlay writes a sandbox's changes into its
// snapshot's upper directory on the host's file system, which nothing
// bounds; this kernel has neither XFS nor ext4 project quotas (no
// CONFIG_XFS_QUOTA, no CONFIG_QFMT_V2: measured, docs/disk-bound.md). So
// each sandbox gets a file system of its own: a sparse image file of its
// disk size, formatted ext4 and loop-mounted over its snapshot's directory
// (snapshots/<n>, holding the overlay's fs and work directories) before
// the task mounts its root. Past the bound a write fails with ENOSPC
// inside the sandbox, df there reports the sandbox's own size (overlay's
// statfs is its upper file system's), and the host file only grows as far
// as the sandbox writes. The image lives as long as the container; a
// restart of the task (or of the host) mounts it again.
//
// The mount is made with nodev: host-side code that opened a device node a
// sandbox made in its upper directory gets EACCES, not the host's device.

const (
	// diskLabel records a sandbox container's disk size, so a later task
	// start mounts the same disk again.
	diskLabel = "snapgate/disk-bytes"
	// MinDiskBytes is the smallest disk a sandbox gets: ext4 needs room
	// for its own metadata.
	MinDiskBytes = 16 << 20
)

// ErrNoDisks is returned by New when Options.DiskDir is set and this host
// cannot make sandbox disks.
var ErrNoDisks = errors.New("this host cannot bound sandbox disks")

// disks makes, mounts and removes sandbox disk images under dir.
type disks struct {
	dir  string // <DiskDir>/<namespace>
	mkfs string
	// loops serializes this process's loop set-ups: LOOP_CTL_GET_FREE
	// hands every concurrent caller the same free device, and all but one
	// would fail on it (measured: 50 concurrent starts ran out of retries).
	loops sync.Mutex
}

func newDisks(root, ns string) (*disks, error) {
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		return nil, fmt.Errorf("%w: mkfs.ext4 is missing (Debian: e2fsprogs): %w", ErrNoDisks, err)
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return nil, fmt.Errorf("%w: no loop devices: %w", ErrNoDisks, err)
	}
	dir := filepath.Join(root, ns)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox disk directory: %w", err)
	}
	return &disks{dir: dir, mkfs: mkfs}, nil
}

func (d *disks) image(id string) string { return filepath.Join(d.dir, id+".img") }

// attach mounts sandbox id's disk (made now if it has none) over its
// snapshot directory snapDir; already mounted is success.
func (d *disks) attach(ctx context.Context, id, snapDir string, size int64) error {
	if mounted, err := isMountPoint(snapDir); err != nil || mounted {
		return err
	}
	var upper unix.Stat_t
	if err := unix.Lstat(filepath.Join(snapDir, "fs"), &upper); err != nil {
		return fmt.Errorf("sandbox disk: %w", err)
	}
	img := d.image(id)
	if _, err := os.Stat(img); errors.Is(err, os.ErrNotExist) {
		if err := d.format(ctx, img, max(size, MinDiskBytes)); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("sandbox disk: %w", err)
	}
	d.loops.Lock()
	err := mountLoop(img, snapDir)
	d.loops.Unlock()
	if err != nil {
		return err
	}
	// The overlay's directories, on the new file system, as the
	// snapshotter made them (the upper's root is the sandbox's /).
	for _, sub := range []struct {
		name string
		mode uint32
	}{{"fs", upper.Mode & 0o7777}, {"work", 0o700}} {
		p := filepath.Join(snapDir, sub.name)
		if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return d.undo(snapDir, fmt.Errorf("sandbox disk: %w", err))
		}
		if err := os.Chmod(p, os.FileMode(sub.mode)); err != nil {
			return d.undo(snapDir, fmt.Errorf("sandbox disk: %w", err))
		}
	}
	if err := os.Lchown(filepath.Join(snapDir, "fs"), int(upper.Uid), int(upper.Gid)); err != nil {
		return d.undo(snapDir, fmt.Errorf("sandbox disk: %w", err))
	}
	return nil
}

func (d *disks) undo(snapDir string, err error) error {
	_ = unix.Unmount(snapDir, unix.MNT_DETACH)
	return err
}

// format makes a sparse image of size bytes holding an empty ext4. No
// journal: the disk lives and dies with its sandbox, and the journal
// would cost a write of its own size at format time.
func (d *disks) format(ctx context.Context, img string, size int64) error {
	f, err := os.OpenFile(img, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sandbox disk: %w", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		out, cerr := exec.CommandContext(ctx, d.mkfs, "-q", "-F", "-m", "0", "-O", "^has_journal",
			"-E", "lazy_itable_init=1,nodiscard", img).CombinedOutput()
		if cerr != nil {
			err = fmt.Errorf("%w: %s", cerr, strings.TrimSpace(string(out)))
		}
	}
	if err != nil {
		_ = os.Remove(img)
		return fmt.Errorf("format sandbox disk: %w", err)
	}
	return nil
}

// detach unmounts sandbox id's disk from snapDir (when given and mounted)
// and removes its image; a missing one is success.
func (d *disks) detach(id, snapDir string) error {
	if snapDir != "" {
		if mounted, err := isMountPoint(snapDir); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		} else if mounted {
			// Lazy: a process still holding a file there (a capture's
			// copy, the shim's last reads) keeps the file system until
			// it lets go; the loop device clears itself after that.
			if err := unix.Unmount(snapDir, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount sandbox disk: %w", err)
			}
		}
	}
	if err := os.Remove(d.image(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove sandbox disk: %w", err)
	}
	return nil
}

// isMountPoint tells whether dir is the root of a mount of another device
// than its parent's (as a sandbox disk is).
func isMountPoint(dir string) (bool, error) {
	var st, pst unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return false, err
	}
	if err := unix.Lstat(filepath.Dir(dir), &pst); err != nil {
		return false, err
	}
	return st.Dev != pst.Dev, nil
}

// mountLoop attaches img to a free loop device (autoclear: the device
// frees itself when unmounted) and mounts it at dir.
func mountLoop(img, dir string) error {
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sandbox disk: %w", err)
	}
	defer f.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sandbox disk: %w", err)
	}
	defer ctl.Close()
	// Another process may take the free device between the two calls.
	for range 64 {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return fmt.Errorf("sandbox disk: find a free loop device: %w", err)
		}
		dev := "/dev/loop" + strconv.Itoa(n)
		lf, err := openLoop(dev, n)
		if err != nil {
			return err
		}
		cfg := unix.LoopConfig{Fd: uint32(f.Fd())}
		cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
		err = unix.IoctlLoopConfigure(int(lf.Fd()), &cfg)
		if errors.Is(err, unix.EBUSY) {
			lf.Close()
			continue
		}
		if err != nil {
			lf.Close()
			return fmt.Errorf("sandbox disk: configure %s: %w", dev, err)
		}
		err = unix.Mount(dev, dir, "ext4", unix.MS_NODEV, "")
		lf.Close() // the mount holds the device now; autoclear frees it after
		if err != nil {
			return fmt.Errorf("sandbox disk: mount %s: %w", dev, err)
		}
		return nil
	}
	return core.Errorf(core.ErrUnavailable, "no free loop device for a sandbox disk")
}

// openLoop opens loop device n, making its node when /dev lacks it (a
// container's /dev holds only the devices present when it started).
func openLoop(dev string, n int) (*os.File, error) {
	lf, err := os.OpenFile(dev, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		if err := unix.Mknod(dev, unix.S_IFBLK|0o660, int(unix.Mkdev(7, uint32(n)))); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("sandbox disk: make %s: %w", dev, err)
		}
		lf, err = os.OpenFile(dev, os.O_RDWR, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox disk: open %s: %w", dev, err)
	}
	return lf, nil
}

// snapshotDir is the directory of sandbox id's writable overlay snapshot
// (the parent of its upper directory).
func (e *Engine) snapshotDir(ctx context.Context, id string) (string, error) {
	mounts, err := e.client.SnapshotService(e.snapshotter).Mounts(ctx, id)
	if err != nil {
		return "", err
	}
	for _, m := range mounts {
		for _, o := range m.Options {
			if v, ok := strings.CutPrefix(o, "upperdir="); ok {
				return filepath.Dir(v), nil
			}
		}
	}
	return "", fmt.Errorf("snapshot %s has no overlay upper directory: %v", id, mounts)
}

// attachDisk gives sandbox id its bounded disk before a task mounts its
// root. Nothing to do without disks or without a size.
func (e *Engine) attachDisk(ctx context.Context, id string, size int64) error {
	if e.disks == nil || size <= 0 {
		return nil
	}
	dir, err := e.snapshotDir(ctx, id)
	if err != nil {
		return classify(err, "disk of sandbox "+id)
	}
	if err := e.disks.attach(ctx, id, dir, size); err != nil {
		return core.WithCause(core.ErrUnavailable, err, "could not give sandbox %s its disk", id)
	}
	return nil
}

// detachDisk unmounts and removes sandbox id's disk, before its snapshot
// goes (a mount point cannot be removed). The image is made before it is
// mounted and removed after it is unmounted, so without an image there is
// nothing to do: no snapshot look-up on every start and disk-less kill.
func (e *Engine) detachDisk(ctx context.Context, id string) error {
	if e.disks == nil {
		return nil
	}
	if _, err := os.Stat(e.disks.image(id)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	dir, err := e.snapshotDir(ctx, id)
	if err != nil && !errdefs.IsNotFound(err) {
		return classify(err, "disk of sandbox "+id)
	}
	if err := e.disks.detach(id, dir); err != nil {
		return core.WithCause(core.ErrUnavailable, err, "could not remove the disk of sandbox %s", id)
	}
	return nil
}

// diskBytes reads a container's disk size label; 0 when it has none.
func diskBytes(labels map[string]string) int64 {
	n, _ := strconv.ParseInt(labels[diskLabel], 10, 64)
	return n
}

// checkMountsReach fails when a mount made here would not be seen by the
// containerd at address, whose shims mount sandbox roots: a disk mounted
// only in this process's mount namespace would leave the sandbox writing
// to the host's file system unbounded while captures read the empty disk.
// It passes when both share a mount namespace, or a probe mount made here
// shows up in containerd's mount table (propagation). When containerd's
// process cannot be seen (another pid namespace) it cannot tell, and
// passes.
func (d *disks) checkMountsReach(address string) error {
	pid, err := peerPid(address)
	if err != nil || pid <= 0 {
		return nil
	}
	ours, err1 := os.Readlink("/proc/self/ns/mnt")
	theirs, err2 := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/mnt")
	if err1 != nil || err2 != nil || ours == theirs {
		return nil
	}
	probe, err := os.MkdirTemp(d.dir, ".probe-")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoDisks, err)
	}
	defer os.Remove(probe)
	if err := unix.Mount("snapgate-probe", probe, "tmpfs", unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_NOSUID, "size=4k"); err != nil {
		return fmt.Errorf("%w: probe mount: %w", ErrNoDisks, err)
	}
	defer unix.Unmount(probe, unix.MNT_DETACH)
	var st unix.Stat_t
	if err := unix.Stat(probe, &st); err != nil {
		return fmt.Errorf("%w: %w", ErrNoDisks, err)
	}
	info, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/mountinfo")
	if err != nil {
		return nil
	}
	devno := fmt.Sprintf(" %d:%d ", unix.Major(st.Dev), unix.Minor(st.Dev))
	if !strings.Contains(string(info), devno) {
		return fmt.Errorf("%w: mounts made by this process do not reach containerd's mount namespace (pid %d): run snapgate in containerd's mount namespace or with mount propagation from it (Kubernetes: mountPropagation Bidirectional)", ErrNoDisks, pid)
	}
	return nil
}

// peerPid is the pid of the process serving the unix socket address.
func peerPid(address string) (int, error) {
	conn, err := net.Dial("unix", strings.TrimPrefix(address, "unix://"))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	raw, err := conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var serr error
	err = raw.Control(func(fd uintptr) { cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, err
	}
	return int(cred.Pid), nil
}
