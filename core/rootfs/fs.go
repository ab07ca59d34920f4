// Package rootfs is a core.SandboxFS over a host directory that a sandbox
// controls: its root as the host reaches it (/proc/<pid>/root for the
// containerd engine), or a test's temporary directory. Every access goes
// through an *os.Root, which never follows a link out of the directory;
// paths are resolved as the sandbox sees them (an absolute symlink starts
// again at its root), and the node whose content is read or written is
// first opened O_PATH|O_NOFOLLOW and checked on that handle (STYLE.md
// section 12). Owners are shifted between the sandbox's ids and the
// host's (a user namespace's range).
//
// core/engine opens it on a task's /proc/<pid>/root with the sandbox's id
// shift; core's fakes (core/coretest) open it on a temporary directory,
// so core's tests of hostile trees run this very code. It imports core,
// the standard library and x/sys, never containerd.
package rootfs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"syscall"

	"github.com/snapgate/snapgate/core"
)

// IDMap shifts owners between the sandbox's ids and the host's; a nil
// func is the identity (a sandbox in the host's user namespace).
type IDMap struct {
	ToHost, ToSandbox func(id uint32) uint32
}

func (m IDMap) toHost(id uint32) int {
	if m.ToHost != nil {
		id = m.ToHost(id)
	}
	return int(id)
}

func (m IDMap) toSandbox(id uint32) uint32 {
	if m.ToSandbox != nil {
		return m.ToSandbox(id)
	}
	return id
}

// FS is a sandbox's root filesystem, opened. Safe for concurrent use.
type FS struct {
	root *os.Root
	ids  IDMap
}

var _ core.SandboxFS = (*FS)(nil)

// Open opens the sandbox root at the host directory dir. Hold it only
// while the sandbox's root is there (a task's /proc/<pid>/root): the
// handle pins that tree, not the sandbox.
func Open(dir string, ids IDMap) (*FS, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &FS{root: root, ids: ids}, nil
}

// Close implements core.SandboxFS.
func (s *FS) Close() error { return s.root.Close() }

// Stat implements core.SandboxFS.
func (s *FS) Stat(_ context.Context, p string, follow bool) (core.FileStat, error) {
	real, fi, err := s.stat(p, follow)
	if err != nil {
		return core.FileStat{}, err
	}
	return s.fileStat(real, fi), nil
}

// fileStat describes fi, found at the resolved path real.
func (s *FS) fileStat(real string, fi os.FileInfo) core.FileStat {
	st := core.FileStat{Mode: fi.Mode(), Size: fi.Size(), ModTime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.UID, st.GID = s.ids.toSandbox(sys.Uid), s.ids.toSandbox(sys.Gid)
		st.Ino = sys.Ino
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		st.Target = s.linkTarget(real)
	}
	return st
}

// MkdirAll implements core.SandboxFS.
func (s *FS) MkdirAll(_ context.Context, p string, owner core.Owner) error {
	real, err := s.resolve(p, true)
	if err != nil {
		return err
	}
	return s.mkdirs(real, owner)
}

// mkdirs makes the missing directories of the resolved path real, owned
// by owner.
func (s *FS) mkdirs(real string, owner core.Owner) error {
	cur := "/"
	for _, name := range splitPath(real) {
		cur = path.Join(cur, name)
		fi, err := s.root.Lstat(rel(cur))
		switch {
		case err == nil && fi.IsDir():
			continue
		case err == nil:
			return &fs.PathError{Op: "mkdir", Path: cur, Err: syscall.ENOTDIR}
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if err := s.root.Mkdir(rel(cur), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := s.root.Lchown(rel(cur), s.ids.toHost(owner.UID), s.ids.toHost(owner.GID)); err != nil {
			return err
		}
	}
	return nil
}

func splitPath(p string) []string {
	var out []string
	for p = path.Clean("/" + p); p != "/"; p = path.Dir(p) {
		out = append([]string{path.Base(p)}, out...)
	}
	return out
}

// Rename implements core.SandboxFS.
func (s *FS) Rename(_ context.Context, src, dst string, owner core.Owner) error {
	srcReal, err := s.resolve(src, false)
	if err != nil {
		return err
	}
	dstReal, err := s.resolve(dst, false)
	if err != nil {
		return err
	}
	if srcReal == "/" || dstReal == "/" {
		return &fs.PathError{Op: "rename", Path: "/", Err: syscall.EBUSY}
	}
	if err := s.mkdirs(path.Dir(dstReal), owner); err != nil {
		return err
	}
	return s.root.Rename(rel(srcReal), rel(dstReal))
}

// RemoveAll implements core.SandboxFS.
func (s *FS) RemoveAll(_ context.Context, p string) error {
	real, err := s.resolve(p, false)
	if err != nil {
		return err
	}
	if real == "/" {
		return &fs.PathError{Op: "remove", Path: "/", Err: syscall.EBUSY}
	}
	if err := s.root.RemoveAll(rel(real)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
