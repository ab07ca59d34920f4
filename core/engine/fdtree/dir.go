// Package fdtree reads and copies directory trees that another party
// controls (a sandbox's overlay upper directory) without ever resolving a
// path through a component that party could have swapped: every entry is
// reached from an already-open directory file descriptor, one name at a
// time, with O_NOFOLLOW; regular files are type-checked on the open
// descriptor before any byte is read; symlinks are read and recreated as
// symlinks; device nodes and FIFOs are recreated with mknod, never opened.
// Multi-component paths are only ever resolved with openat2 and
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS|RESOLVE_NO_XDEV.
//
// A symlink swapped in for a directory makes the open fail (ELOOP or
// ENOTDIR) instead of leading out of the tree: that is the whole point.
// It imports only the standard library and x/sys.
package fdtree

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// Dir is an open directory of a tree.
type Dir struct {
	f    *os.File
	name string // for messages: the path relative to the tree's root
}

// beneath is how multi-component paths are resolved: never out of the
// starting directory, through no symlink, magic link or mount point.
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// OpenRoot opens the root of a tree. path itself is trusted (a host path
// the caller chose, such as a snapshot's upper directory); nothing under
// it is.
func OpenRoot(path string) (*Dir, error) {
	fd, err := unix.Open(path, dirFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("open tree root %s: %w", path, err)
	}
	return &Dir{f: os.NewFile(uintptr(fd), path), name: "."}, nil
}

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// Fd is the directory's descriptor, valid until Close.
func (d *Dir) Fd() int { return int(d.f.Fd()) }

// Name is the directory's path relative to the tree's root.
func (d *Dir) Name() string { return d.name }

func (d *Dir) child(name string) string {
	if d.name == "." {
		return name
	}
	return d.name + "/" + name
}

// OpenDir opens the subdirectory name (one component), failing when name
// is no longer a directory.
func (d *Dir) OpenDir(name string) (*Dir, error) {
	fd, err := unix.Openat(d.Fd(), name, dirFlags, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open directory", Path: d.child(name), Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), d.child(name)), name: d.child(name)}, nil
}

// OpenPath opens the directory rel (a relative path of several
// components, "." for d itself) beneath d, through no symlink.
func (d *Dir) OpenPath(rel string) (*Dir, error) {
	fd, err := unix.Openat2(d.Fd(), rel, &unix.OpenHow{Flags: dirFlags, Resolve: beneath})
	if err != nil {
		return nil, &os.PathError{Op: "open directory", Path: rel, Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), rel), name: rel}, nil
}

// Names lists the directory's entries, sorted (so a tree always reads in
// the same order and a layer made from it is reproducible).
func (d *Dir) Names() ([]string, error) {
	// A fresh descriptor: reading entries moves the offset of d's own.
	fd, err := unix.Openat(d.Fd(), ".", dirFlags, 0)
	if err != nil {
		return nil, &os.PathError{Op: "list", Path: d.name, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.name)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, &os.PathError{Op: "list", Path: d.name, Err: err}
	}
	slices.Sort(names)
	return names, nil
}

// Lstat stats the entry name without following it.
func (d *Dir) Lstat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.Fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return st, &os.PathError{Op: "stat", Path: d.child(name), Err: err}
	}
	return st, nil
}

// Readlink reads the symlink name.
func (d *Dir) Readlink(name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(d.Fd(), name, buf)
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: d.child(name), Err: err}
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// ErrNotRegular is returned by OpenFile for an entry that is not (or no
// longer) a regular file.
var ErrNotRegular = errors.New("not a regular file")

// OpenFile opens the regular file name for reading. O_NONBLOCK keeps a
// FIFO swapped in meanwhile from blocking the open, O_NOCTTY a terminal
// from becoming ours; the type is checked on the open descriptor, so a
// swap after any earlier stat is caught here.
func (d *Dir) OpenFile(name string) (*os.File, unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := unix.Openat(d.Fd(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, st, &os.PathError{Op: "open", Path: d.child(name), Err: err}
	}
	f := os.NewFile(uintptr(fd), d.child(name))
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, st, &os.PathError{Op: "stat", Path: d.child(name), Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, st, &os.PathError{Op: "open", Path: d.child(name), Err: ErrNotRegular}
	}
	return f, st, nil
}

// procPath names entry name of d through d's descriptor, for the calls
// that have no *at form (l*xattr). /proc/self/fd/N is d itself, already
// open; name is one component, which the l* calls do not follow.
func (d *Dir) procPath(name string) string {
	return "/proc/self/fd/" + strconv.Itoa(d.Fd()) + "/" + name
}
