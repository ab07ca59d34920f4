package core

import (
	"context"
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
	if _, err := f.statDir(ctx, abs); err != nil {
		return nil, err
	}
	out := []FileInfo{}
	seen := 0
	err = f.fs.Walk(ctx, abs, max(depth, 1), func(rel string, st FileStat) error {
		if seen++; seen > maxListEntries {
			return errTooManyEntries
		}
		out = append(out, f.info(path.Join(abs, rel), st))
		return nil
	})
	if err != nil {
		return nil, walkError(ctx, err, abs, maxListEntries)
	}
	slices.SortFunc(out, func(a, b FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// statDir describes abs, the start of a walk, which must be (or link to)
// a directory. ErrNotFound, ErrInvalidArgument (not a directory).
func (f *Files) statDir(ctx context.Context, abs string) (FileStat, error) {
	st, err := f.fs.Stat(ctx, abs, true)
	if err != nil {
		return FileStat{}, fsError(err, abs)
	}
	if !st.Mode.IsDir() {
		return FileStat{}, Errorf(ErrInvalidArgument, "path '%s' is not a directory", abs)
	}
	return st, nil
}

var errTooManyEntries = Errorf(ErrInvalidArgument, "too many entries")

// walkError classifies the error of a walk under abs that stops at limit
// entries.
func walkError(ctx context.Context, err error, abs string, limit int) error {
	if err == errTooManyEntries {
		return Errorf(ErrInvalidArgument, "'%s' has more than %d entries at that depth: list less deep", abs, limit)
	}
	if ctx.Err() != nil {
		return WithCause(ErrUnavailable, err, "listing '%s' was interrupted", abs)
	}
	return fsError(err, abs)
}
