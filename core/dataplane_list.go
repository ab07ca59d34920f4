package core

import (
	"context"
	"os"
	"path"
	"slices"
	"strings"
)

// maxListEntries bounds one List (and what a Watch looks at): a deep
// listing of / would otherwise walk /proc and /sys.
const maxListEntries = 100000

// List returns the entries below dir up to depth levels (≥1; 0 counts as
// 1), dir itself excluded, sorted by path. An entry's Path is dir as
// requested plus its relative part; symlinks are listed, not followed.
// ErrNotFound, ErrInvalidArgument (not a directory, more than 100000
// entries).
func (f *Files) List(ctx context.Context, dir string, depth int) ([]FileInfo, error) {
	abs, err := f.Resolve(dir)
	if err != nil {
		return nil, err
	}
	sub, real, err := f.openDir(abs)
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	out := []FileInfo{}
	w := walker{ctx: ctx, limit: maxListEntries, visit: func(relPath string, fi os.FileInfo) {
		out = append(out, f.info(path.Join(abs, relPath), path.Join(real, relPath), fi))
	}}
	if err := w.walk(sub, "", max(depth, 1)); err != nil {
		return nil, w.classify(err, abs)
	}
	slices.SortFunc(out, func(a, b FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// openDir opens the directory abs (through links) as a root of its own.
// ErrNotFound, ErrInvalidArgument (not a directory).
func (f *Files) openDir(abs string) (*os.Root, string, error) {
	real, fi, err := f.fs.stat(abs, true)
	if err != nil {
		return nil, "", fsError(err, abs)
	}
	if !fi.IsDir() {
		return nil, "", Errorf(ErrInvalidArgument, "path '%s' is not a directory", abs)
	}
	sub, err := f.fs.root.OpenRoot(rel(real))
	if err != nil {
		return nil, "", fsError(err, abs)
	}
	return sub, real, nil
}

// walker visits a directory tree through *os.Root handles (one per
// directory, so each step is one openat below the last), never following
// symlinks.
type walker struct {
	ctx   context.Context
	limit int
	seen  int
	visit func(relPath string, fi os.FileInfo)
}

var errTooManyEntries = Errorf(ErrInvalidArgument, "too many entries")

// walk visits the entries of r (at relPath) and, depth > 1, below them.
// Entries that vanish meanwhile are skipped.
func (w *walker) walk(r *os.Root, relPath string, depth int) error {
	d, err := r.Open(".")
	if err != nil {
		return err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if w.seen++; w.seen > w.limit {
			return errTooManyEntries
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		p := path.Join(relPath, e.Name())
		w.visit(p, fi)
		if depth <= 1 || !fi.IsDir() {
			continue
		}
		sub, err := r.OpenRoot(e.Name())
		if err != nil {
			continue
		}
		err = w.walk(sub, p, depth-1)
		sub.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) classify(err error, abs string) error {
	if err == errTooManyEntries {
		return Errorf(ErrInvalidArgument, "'%s' has more than %d entries at that depth: list less deep", abs, w.limit)
	}
	if w.ctx.Err() != nil {
		return WithCause(ErrUnavailable, err, "listing '%s' was interrupted", abs)
	}
	return fsError(err, abs)
}
