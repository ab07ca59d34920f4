package core

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// What the dataplane reads or writes for a client is a regular file of the
// sandbox's own storage, checked on an open handle, never on a path looked
// at before. A sandbox can make FIFOs (an open or read blocks), sockets and
// device nodes (it has CAP_MKNOD, and snapgate is outside its device
// cgroup: opening a mknod'd 1:1 from the host opens the host's real
// /dev/mem), and it has its own proc and sysfs mounts (/proc/1/mem). So the
// final component is first opened O_PATH|O_NOFOLLOW, which opens no device
// and blocks on nothing; fstat and fstatfs on that handle decide; only then
// is the same inode reopened for I/O through /proc/self/fd (runc's
// WithProcfd). Swapping the path after the check changes nothing: the
// handle pins the inode.

// openNode opens the resolved path real as an
// O_PATH handle without following a final symlink, and describes it.
func (s sandboxFS) openNode(real string) (*os.File, os.FileInfo, error) {
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

// checkContent refuses, with ErrInvalidArgument naming abs and what it is,
// any node whose content the API must not touch: anything but a regular
// file (a directory too unless dirOK), and files of kernel filesystems.
// h is an open handle (O_PATH or not) of the node fi describes.
func checkContent(h *os.File, fi os.FileInfo, abs string, dirOK bool) error {
	if fi.IsDir() && dirOK {
		return nil
	}
	if kind := nodeKind(fi.Mode()); kind != "" {
		return Errorf(ErrInvalidArgument, "path '%s' is %s: only regular files can be read or written", abs, kind)
	}
	fsType, err := fsTypeOf(h)
	if err != nil {
		return fmt.Errorf("fstatfs %s: %w", abs, err)
	}
	if !storageFS[fsType] {
		return Errorf(ErrInvalidArgument, "path '%s' is on the sandbox's %s filesystem: its files cannot be read or written through the API", abs, fsName(fsType))
	}
	return nil
}

// nodeKind names what a non-regular node is ("" for a regular file).
func nodeKind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return ""
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link that changed while it was opened"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a unix socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "not a regular file"
}

// isSpecial reports a FIFO, socket or device node: listed as metadata,
// never opened.
func isSpecial(m fs.FileMode) bool {
	return m&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeDevice|fs.ModeCharDevice|fs.ModeIrregular) != 0
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
func reopen(h *os.File, flag int, abs string) (*os.File, error) {
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
		err = checkContent(f, fi, abs, false)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openContent opens the regular file at the resolved path real for I/O
// with flag (O_RDONLY, O_WRONLY|O_TRUNC). Anything else is refused without
// being opened for I/O: ErrInvalidArgument naming abs and its type.
func (s sandboxFS) openContent(real, abs string, flag int) (*os.File, os.FileInfo, error) {
	h, fi, err := s.openNode(real)
	if err != nil {
		return nil, nil, err
	}
	defer h.Close()
	if err := checkContent(h, fi, abs, false); err != nil {
		return nil, nil, err
	}
	f, err := reopen(h, flag, abs)
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
// meanwhile (then the new node is looked at again).
func (s sandboxFS) openForWrite(real, abs string) (*os.File, error) {
	for range maxOpenRetries {
		f, _, err := s.openContent(real, abs, os.O_WRONLY|os.O_TRUNC)
		if !errors.Is(err, fs.ErrNotExist) {
			return f, err
		}
		f, err = s.root.OpenFile(rel(real), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0o644)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, Errorf(ErrFailedPrecondition, "path '%s' kept changing while it was being opened", abs)
}
