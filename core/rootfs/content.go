package rootfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/snapgate/snapgate/core"
)

// What is read or written for a client is a regular file of the sandbox's
// own storage, checked on an open handle, never on a path looked at
// before. A sandbox can make FIFOs (an open or read blocks), sockets and
// device nodes (with CAP_MKNOD outside a user namespace, or from its
// image's layers; the host is outside its device cgroup, so opening a
// 1:1 node from the host opens the host's real /dev/mem), and it has its
// own proc and sysfs mounts (/proc/1/mem). So the final component is
// first opened O_PATH|O_NOFOLLOW, which opens no device and blocks on
// nothing; fstat and fstatfs on that handle decide; only then is the same
// inode reopened for I/O through /proc/self/fd (runc's WithProcfd).
// Swapping the path after the check changes nothing: the handle pins the
// inode.

// Open implements core.SandboxFS.
func (s *FS) Open(_ context.Context, p string) (core.ReadSeekCloser, core.FileStat, error) {
	real, err := s.resolve(p, true)
	if err != nil {
		return nil, core.FileStat{}, err
	}
	f, fi, err := s.openContent(real, os.O_RDONLY)
	if err != nil {
		return nil, core.FileStat{}, err
	}
	return f, s.fileStat(real, fi), nil
}

// Create implements core.SandboxFS.
func (s *FS) Create(_ context.Context, p string, owner core.Owner) (core.FileWriter, error) {
	real, err := s.resolve(p, true)
	if err != nil {
		return nil, err
	}
	if err := s.mkdirs(path.Dir(real), owner); err != nil {
		return nil, err
	}
	f, err := s.openForWrite(real, p)
	if err != nil {
		return nil, err
	}
	// openForWrite checked already; a second look on the handle written
	// to costs one fstat and keeps this safe if that ever changes.
	fi, err := f.Stat()
	if err == nil {
		err = check(f, fi)
	}
	if err == nil {
		err = f.Chown(s.ids.toHost(owner.UID), s.ids.toHost(owner.GID))
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return writer{File: f, s: s}, nil
}

// writer is a file Create opened.
type writer struct {
	*os.File
	s *FS
}

func (w writer) Stat() (core.FileStat, error) {
	fi, err := w.File.Stat()
	if err != nil {
		return core.FileStat{}, err
	}
	return w.s.fileStat("", fi), nil
}

// openNode opens the resolved path real as an O_PATH handle without
// following a final symlink, and describes it.
func (s *FS) openNode(real string) (*os.File, os.FileInfo, error) {
	h, err := s.root.OpenFile(rel(real), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := h.Stat()
	if err != nil {
		h.Close()
		return nil, nil, fmt.Errorf("fstat: %w", err)
	}
	return h, fi, nil
}

// check refuses, with a *core.RefusedFileError, any node whose content
// must not be touched: anything but a regular file, and files of kernel
// filesystems. h is an open handle (O_PATH or not) of the node fi
// describes.
func check(h *os.File, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return &core.RefusedFileError{Mode: fi.Mode().Type()}
	}
	fsType, err := fsTypeOf(h)
	if err != nil {
		return fmt.Errorf("fstatfs: %w", err)
	}
	if !storageFS[fsType] {
		return &core.RefusedFileError{FS: fsName(fsType)}
	}
	return nil
}

// storageFS lists the filesystems whose files hold data (statfs f_type):
// the sandbox's overlay root, its tmpfs mounts (/dev, /dev/shm) and host
// bind mounts. An allow-list, like RESOLVE_NO_XDEV but keeping those
// mounts: proc (/proc/<pid>/mem, environ, /proc/kcore), sysfs, cgroupfs,
// debugfs and the like fail closed, including ones added later.
var storageFS = map[int64]bool{
	unix.OVERLAYFS_SUPER_MAGIC: true,
	unix.TMPFS_MAGIC:           true,
	unix.RAMFS_MAGIC:           true,
	unix.EXT4_SUPER_MAGIC:      true, // ext2, ext3 too
	unix.XFS_SUPER_MAGIC:       true,
	unix.BTRFS_SUPER_MAGIC:     true,
	unix.F2FS_SUPER_MAGIC:      true,
	0x2fc12fc1:                 true, // zfs
}

var kernelFSNames = map[int64]string{
	unix.PROC_SUPER_MAGIC:    "proc",
	unix.SYSFS_MAGIC:         "sysfs",
	unix.CGROUP_SUPER_MAGIC:  "cgroup",
	unix.CGROUP2_SUPER_MAGIC: "cgroup2",
	unix.DEVPTS_SUPER_MAGIC:  "devpts",
	unix.DEBUGFS_MAGIC:       "debugfs",
	unix.TRACEFS_MAGIC:       "tracefs",
	unix.SECURITYFS_MAGIC:    "securityfs",
	unix.BPF_FS_MAGIC:        "bpf",
	0x19800202:               "mqueue", // MQUEUE_MAGIC
	unix.NSFS_MAGIC:          "nsfs",
}

func fsName(t int64) string {
	if n, ok := kernelFSNames[t]; ok {
		return n
	}
	return "0x" + strconv.FormatInt(t, 16)
}

// fsTypeOf is fstatfs's f_type for the open handle h (O_PATH works).
func fsTypeOf(h *os.File) (int64, error) {
	var st unix.Statfs_t
	err := control(h, func(fd int) error { return unix.Fstatfs(fd, &st) })
	return int64(st.Type), err
}

// control runs fn on h's descriptor without changing its mode (File.Fd
// would make it blocking).
func control(h *os.File, fn func(fd int) error) error {
	rc, err := h.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// reopen opens the inode behind the O_PATH handle h for I/O with flag
// (O_NONBLOCK and O_NOCTTY added), through the host's /proc/self/fd: the
// very inode that was checked, whatever the sandbox did to the path since.
// The new handle is checked again, so a mistake here cannot open more.
func reopen(h *os.File, flag int) (*os.File, error) {
	var f *os.File
	err := control(h, func(fd int) error {
		var err error
		f, err = os.OpenFile("/proc/self/fd/"+strconv.Itoa(fd), flag|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the /proc/self/fd name means nothing to a client
		}
		return nil, fmt.Errorf("reopen: %w", err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = check(f, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openContent opens the regular file at the resolved path real for I/O
// with flag (O_RDONLY, O_WRONLY|O_TRUNC). Anything else is refused without
// being opened for I/O.
func (s *FS) openContent(real string, flag int) (*os.File, os.FileInfo, error) {
	h, fi, err := s.openNode(real)
	if err != nil {
		return nil, nil, err
	}
	defer h.Close()
	if err := check(h, fi); err != nil {
		return nil, nil, err
	}
	f, err := reopen(h, flag)
	if err != nil {
		return nil, nil, err
	}
	return f, fi, nil
}

// maxOpenRetries bounds how often openForWrite looks again at a path the
// sandbox keeps creating and removing under it.
const maxOpenRetries = 3

// openForWrite opens the regular file at the resolved path real for
// writing, truncated, or creates it. An existing node is checked on an
// O_PATH handle before anything is opened for writing (an O_WRONLY open of
// a device node would already reach the host's device); a new file is
// made with O_EXCL, which follows no link and fails if anything appeared
// meanwhile (then the new node is looked at again). p names the path in
// the EAGAIN of a path that keeps changing.
func (s *FS) openForWrite(real, p string) (*os.File, error) {
	for range maxOpenRetries {
		f, _, err := s.openContent(real, os.O_WRONLY|os.O_TRUNC)
		if !errors.Is(err, fs.ErrNotExist) {
			return f, err
		}
		f, err = s.root.OpenFile(rel(real), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0o644)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.EAGAIN}
}
