package rootfs

import (
	"context"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/snapgate/snapgate/core"
)

// Walk implements core.SandboxFS. It goes down through *os.Root handles,
// one per directory, so each step is one openat below the last and a
// directory swapped for a symlink meanwhile is not followed out of the
// sandbox.
func (s *FS) Walk(ctx context.Context, dir string, depth int, fn core.WalkFunc) error {
	real, fi, err := s.stat(dir, true)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &fs.PathError{Op: "walk", Path: dir, Err: syscall.ENOTDIR}
	}
	sub, err := s.root.OpenRoot(rel(real))
	if err != nil {
		return err
	}
	defer sub.Close()
	entries, err := readDir(sub)
	if err != nil {
		return err
	}
	w := walk{s: s, ctx: ctx, real: real, fn: fn}
	if err := w.entries(sub, entries, "", depth); err != nil && err != fs.SkipAll {
		return err
	}
	return nil
}

type walk struct {
	s    *FS
	ctx  context.Context
	real string // the walked directory's resolved path
	fn   core.WalkFunc
}

// entries visits the entries of r (at relPath) and, unless depth is 1,
// below them.
func (w *walk) entries(r *os.Root, entries []os.DirEntry, relPath string, depth int) error {
	for _, e := range entries {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			continue // vanished
		}
		p := path.Join(relPath, e.Name())
		err = w.fn(p, w.s.fileStat(path.Join(w.real, p), fi))
		if err == fs.SkipDir {
			continue
		}
		if err != nil {
			return err
		}
		if depth == 1 || !fi.IsDir() {
			continue
		}
		if err := w.below(r, e.Name(), p, depth); err != nil {
			return err
		}
	}
	return nil
}

// below visits the entries of directory name of r; one that vanished or
// cannot be read is skipped.
func (w *walk) below(r *os.Root, name, relPath string, depth int) error {
	sub, err := r.OpenRoot(name)
	if err != nil {
		return nil
	}
	defer sub.Close()
	entries, err := readDir(sub)
	if err != nil {
		return nil
	}
	if depth > 0 {
		depth--
	}
	return w.entries(sub, entries, relPath, depth)
}

// readDir lists r's own directory in name order.
func readDir(r *os.Root) ([]os.DirEntry, error) {
	d, err := r.Open(".")
	if err != nil {
		return nil, err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}
