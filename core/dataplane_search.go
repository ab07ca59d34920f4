package core

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// Filesystem search for LangSmith's glob and grep: one SandboxFS.Walk that
// skips what cannot match and stops at the result cap, the visit budget
// or the deadline, whichever comes first. A capped search is an answer
// marked truncated, not an error.

// SearchOptions bounds a search.
type SearchOptions struct {
	// Limit caps the matches; 0 = DefaultSearchLimit.
	Limit int
	// Deadline caps the walk's duration; 0 = DefaultSearchDeadline.
	Deadline time.Duration
}

// Search bounds (the SDKs document "the server's result cap or deadline").
const (
	DefaultSearchLimit    = 1000
	MaxSearchLimit        = 10000
	DefaultSearchDeadline = 20 * time.Second
	// maxSearchVisits caps the entries one search looks at.
	maxSearchVisits = 200_000
	// maxGrepFileSize skips larger files; maxGrepLine cuts reported lines.
	maxGrepFileSize = 64 << 20
	maxGrepLine     = 4096
)

// GrepMatch is one line containing the searched text.
type GrepMatch struct {
	Path string // absolute, inside the sandbox
	Line int    // 1-based
	Text string // the line, without its newline, valid UTF-8, cut at 4 KiB
}

func (o SearchOptions) bounds() (limit int, deadline time.Duration) {
	limit, deadline = o.Limit, o.Deadline
	if limit <= 0 {
		limit = DefaultSearchLimit
	}
	limit = min(limit, MaxSearchLimit)
	if deadline <= 0 {
		deadline = DefaultSearchDeadline
	}
	return limit, deadline
}

// Glob returns the entries under dir whose path relative to dir matches
// pattern: "**" matches any number of segments, "*", "?" and "[...]" work
// within one segment (path.Match). Matches are in path order; truncated
// reports a cap was hit. ErrInvalidArgument (bad pattern, dir not a
// directory), ErrNotFound.
func (f *Files) Glob(ctx context.Context, dir, pattern string, opt SearchOptions) (matches []FileInfo, truncated bool, err error) {
	segs, err := globSegments(pattern)
	if err != nil {
		return nil, false, err
	}
	limit, deadline := opt.bounds()
	w, err := f.newWalk(ctx, dir, deadline)
	if err != nil {
		return nil, false, err
	}
	defer w.cancel()
	truncated, err = w.run(func(rel string, info FileInfo) (descend, stop bool) {
		rs := strings.Split(rel, "/")
		// A FIFO, socket or device node is no file to read: a match the
		// client would download is only refused later.
		if isSpecial(info.Mode) {
			return false, false
		}
		if matchSegments(segs, rs) {
			if len(matches) == limit {
				return false, true
			}
			matches = append(matches, info)
		}
		return info.Type == FileTypeDir && canDescend(segs, rs), false
	})
	return matches, truncated, err
}

// Grep returns the lines of regular files under dir that contain text
// (literally). fileGlob, if set, selects the files: a pattern without '/'
// or "**" matches base names at any depth, any other the path relative to
// dir. Binary files (a NUL in the first 8 KiB) and files over 64 MiB are
// skipped. ErrInvalidArgument, ErrNotFound.
func (f *Files) Grep(ctx context.Context, dir, text, fileGlob string, opt SearchOptions) (matches []GrepMatch, truncated bool, err error) {
	if text == "" {
		return nil, false, Errorf(ErrInvalidArgument, "the search text is empty")
	}
	selects, err := fileSelector(fileGlob)
	if err != nil {
		return nil, false, err
	}
	limit, deadline := opt.bounds()
	w, err := f.newWalk(ctx, dir, deadline)
	if err != nil {
		return nil, false, err
	}
	defer w.cancel()
	truncated, err = w.run(func(rel string, info FileInfo) (descend, stop bool) {
		if info.Type == FileTypeDir {
			return true, false
		}
		// The walk's lstat says what to skip without opening it (a FIFO
		// would block, a device node reach the host's device); Open checks
		// again on its handle, for what changed since.
		if !info.Mode.IsRegular() || info.Size > maxGrepFileSize || !selects(rel) {
			return false, false
		}
		var full bool
		matches, full = f.grepFile(w.ctx, info.Path, []byte(text), matches, limit)
		return false, full
	})
	return matches, truncated, err
}

// grepFile appends the file's matching lines; full reports that the limit
// was reached with more matches left. Unreadable files are skipped.
func (f *Files) grepFile(ctx context.Context, p string, text []byte, matches []GrepMatch, limit int) ([]GrepMatch, bool) {
	r, _, err := f.Open(ctx, p)
	if err != nil {
		return matches, false
	}
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	if head, _ := br.Peek(8 << 10); bytes.IndexByte(head, 0) >= 0 {
		return matches, false
	}
	for n := 1; ; n++ {
		line, err := readLine(br)
		if bytes.Contains(line, text) {
			if len(matches) == limit {
				return matches, true
			}
			matches = append(matches, GrepMatch{Path: p, Line: n, Text: lineText(line)})
		}
		if err != nil || ctx.Err() != nil {
			return matches, false
		}
	}
}

// readLine reads one line without its newline; bytes past maxGrepLine are
// read but dropped (a match past the cut is missed, a known limit).
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line) < maxGrepLine {
			line = append(line, chunk[:min(len(chunk), maxGrepLine-len(line))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		return line, err
	}
}

func lineText(line []byte) string {
	if len(line) == maxGrepLine {
		// Drop a character cut at maxGrepLine rather than replace it.
		for i := 1; i < utf8.UTFMax && len(line) > 0; i++ {
			if r, size := utf8.DecodeLastRune(line); r != utf8.RuneError || size != 1 {
				break
			}
			line = line[:len(line)-1]
		}
	}
	return strings.ToValidUTF8(string(line), "\uFFFD")
}

// walk visits the entries under a directory in path order, depth first.
type walk struct {
	f      *Files
	parent context.Context // the caller's: its end is an error
	ctx    context.Context // parent plus the deadline: its end truncates
	cancel context.CancelFunc
	root   string
	visits int
}

func (f *Files) newWalk(ctx context.Context, dir string, deadline time.Duration) (*walk, error) {
	root, err := f.Resolve(dir)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat(ctx, root)
	if err != nil {
		return nil, err
	}
	if info.Type != FileTypeDir {
		return nil, Errorf(ErrInvalidArgument, "%s is not a directory", root)
	}
	wctx, cancel := context.WithTimeout(ctx, deadline)
	return &walk{f: f, parent: ctx, ctx: wctx, cancel: cancel, root: root}, nil
}

// visitFunc sees each entry with its path relative to the root; descend
// asks for a directory's entries, stop ends the walk as truncated.
type visitFunc func(rel string, info FileInfo) (descend, stop bool)

// run walks until visit stops it (truncated), a budget runs out
// (truncated) or every entry was seen. Only the caller's own cancellation
// is an error; directories that vanish or cannot be read are skipped.
func (w *walk) run(visit visitFunc) (truncated bool, err error) {
	err = w.f.fs.Walk(w.ctx, w.root, 0, func(rel string, st FileStat) error {
		if w.visits++; w.visits > maxSearchVisits || w.ctx.Err() != nil {
			truncated = true
			return fs.SkipAll
		}
		descend, stop := visit(rel, w.f.info(path.Join(w.root, rel), st))
		switch {
		case stop:
			truncated = true
			return fs.SkipAll
		case !descend:
			return fs.SkipDir
		}
		return nil
	})
	if err := w.parent.Err(); err != nil {
		return false, err
	}
	if w.ctx.Err() != nil {
		return true, nil
	}
	if err != nil {
		return false, fsError(err, w.root)
	}
	return truncated, nil
}

// globSegments splits a glob pattern and checks each segment's syntax.
func globSegments(pattern string) ([]string, error) {
	pattern = strings.Trim(pattern, "/")
	if pattern == "" {
		return nil, Errorf(ErrInvalidArgument, "the glob pattern is empty")
	}
	segs := strings.Split(pattern, "/")
	for _, s := range segs {
		if _, err := path.Match(s, ""); err != nil {
			return nil, Errorf(ErrInvalidArgument, "bad glob pattern %q", pattern)
		}
	}
	return segs, nil
}

// matchSegments reports whether the path segments match the pattern
// segments, "**" standing for zero or more of them.
func matchSegments(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchSegments(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

// canDescend reports whether entries below a directory at segs could
// still match: segs matches a prefix of the pattern with room left.
func canDescend(pat, segs []string) bool {
	for len(segs) > 0 {
		if len(pat) == 0 {
			return false
		}
		if pat[0] == "**" {
			return true
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(pat) > 0
}

// fileSelector turns grep's file glob into a predicate on relative paths.
func fileSelector(fileGlob string) (func(rel string) bool, error) {
	if fileGlob == "" {
		return func(string) bool { return true }, nil
	}
	segs, err := globSegments(fileGlob)
	if err != nil {
		return nil, err
	}
	if len(segs) == 1 && segs[0] != "**" {
		return func(rel string) bool {
			ok, _ := path.Match(segs[0], path.Base(rel))
			return ok
		}, nil
	}
	return func(rel string) bool { return matchSegments(segs, strings.Split(rel, "/")) }, nil
}
