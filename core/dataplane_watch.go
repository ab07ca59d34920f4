package core

import (
	"context"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"
)

const (
	// watchInterval is how often a watch looks at its directory. Polling
	// sees changes made by anything (commands in the sandbox, other
	// calls) on any filesystem, at the cost of this delay.
	watchInterval = 200 * time.Millisecond
	// maxWatchEntries bounds what one watch looks at; beyond it, changes
	// are missed.
	maxWatchEntries = 20000
	// recursiveDepth is how deep a recursive watch looks.
	recursiveDepth = 64
)

// Watch streams changes under dir (recursively when asked) until ctx ends;
// the channel is closed then, or once dir itself is removed. It compares
// snapshots taken every 200 ms: a file created and removed in between is
// not seen, a move is a FileRenamed of the old name then a FileCreated of
// the new one, and a directory reports only its own creation, removal and
// mode changes. The watch keeps its own handle: closing f does not end it.
// ErrNotFound, ErrInvalidArgument (not a directory).
func (f *Files) Watch(ctx context.Context, dir string, recursive bool) (<-chan FileEvent, error) {
	abs, err := f.Resolve(dir)
	if err != nil {
		return nil, err
	}
	sub, real, err := f.openDir(abs)
	if err != nil {
		return nil, err
	}
	top, err := f.fs.root.OpenRoot(".")
	if err != nil {
		sub.Close()
		return nil, fsError(err, abs)
	}
	w := &watch{
		files: &Files{fs: sandboxFS{root: top}, user: f.user, accts: f.accts},
		dir:   sub, abs: abs, real: real, depth: 1,
	}
	if recursive {
		w.depth = recursiveDepth
	}
	prev, _ := w.scan(ctx)
	ch := make(chan FileEvent, 64)
	go w.run(ctx, ch, prev)
	return ch, nil
}

type watch struct {
	files     *Files // for entry descriptions; owns its root handle
	dir       *os.Root
	abs, real string
	depth     int
}

// entryState is what a snapshot remembers of an entry.
type entryState struct {
	ino   uint64
	size  int64
	mtime time.Time
	mode  os.FileMode
	info  os.FileInfo
}

func (w *watch) run(ctx context.Context, ch chan<- FileEvent, prev map[string]entryState) {
	defer close(ch)
	defer w.dir.Close()
	defer w.files.Close()
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cur, complete := w.scan(ctx)
		gone := w.removed()
		if gone {
			cur, complete = map[string]entryState{}, true
		}
		for _, ev := range w.diff(prev, cur, complete) {
			select {
			case ch <- ev:
			case <-ctx.Done():
				return
			}
		}
		if gone {
			return
		}
		prev = cur
	}
}

// removed reports whether the watched directory was deleted.
func (w *watch) removed() bool {
	fi, err := w.dir.Stat(".")
	if err != nil {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}

// scan snapshots the tree; complete is false when it was cut short.
func (w *watch) scan(ctx context.Context) (map[string]entryState, bool) {
	out := map[string]entryState{}
	wk := walker{ctx: ctx, limit: maxWatchEntries, visit: func(relPath string, fi os.FileInfo) {
		es := entryState{size: fi.Size(), mtime: fi.ModTime(), mode: fi.Mode(), info: fi}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			es.ino = st.Ino
		}
		out[relPath] = es
	}}
	err := wk.walk(w.dir, "", w.depth)
	return out, err == nil
}

// diff turns two snapshots into events: removals and renames, then
// creations, then writes and mode changes, each sorted by name. Without a
// complete current snapshot, nothing counts as removed.
func (w *watch) diff(prev, cur map[string]entryState, complete bool) []FileEvent {
	created := map[uint64]bool{}
	var gone, added, changed []FileEvent
	for name, s := range cur {
		old, ok := prev[name]
		switch {
		case !ok:
			created[s.ino] = true
			added = append(added, w.event(name, FileCreated, s))
		case s.mode != old.mode:
			changed = append(changed, w.event(name, FileChmod, s))
		case !s.info.IsDir() && (s.size != old.size || !s.mtime.Equal(old.mtime) || s.ino != old.ino):
			changed = append(changed, w.event(name, FileWritten, s))
		}
	}
	for name, s := range prev {
		if _, ok := cur[name]; ok || !complete {
			continue
		}
		t := FileRemoved
		if s.ino != 0 && created[s.ino] {
			t = FileRenamed
		}
		gone = append(gone, FileEvent{Name: name, Type: t})
	}
	for _, evs := range [][]FileEvent{gone, added, changed} {
		slices.SortFunc(evs, func(a, b FileEvent) int { return strings.Compare(a.Name, b.Name) })
	}
	return slices.Concat(gone, added, changed)
}

func (w *watch) event(name string, t FileEventType, s entryState) FileEvent {
	info := w.files.info(path.Join(w.abs, name), path.Join(w.real, name), s.info)
	return FileEvent{Name: name, Type: t, Entry: &info}
}
