package core

import (
	"context"
	"path"
	"slices"
	"strings"
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
// the channel is closed then, or once dir itself is removed (or replaced).
// It compares snapshots taken every 200 ms: a file created and removed in
// between is not seen, a new non-empty file is a FileCreated then a
// FileWritten (as envd reports it), a move is a FileRenamed of the old
// name then a FileCreated of the new one, and a directory reports only its own
// creation, removal and mode changes. The watch keeps its own handle:
// closing f does not end it. ErrNotFound, ErrInvalidArgument (not a
// directory).
func (f *Files) Watch(ctx context.Context, dir string, recursive bool) (<-chan FileEvent, error) {
	abs, err := f.Resolve(dir)
	if err != nil {
		return nil, err
	}
	if f.open == nil {
		return nil, Errorf(ErrFailedPrecondition, "this view of the sandbox's files cannot watch")
	}
	s, err := f.open(ctx)
	if err != nil {
		return nil, err
	}
	w := &watch{files: &Files{fs: s, user: f.user, accts: f.accts}, abs: abs, depth: 1}
	if recursive {
		w.depth = recursiveDepth
	}
	st, err := w.files.statDir(ctx, abs)
	if err != nil {
		s.Close()
		return nil, err
	}
	w.ino = st.Ino
	prev, _ := w.scan(ctx)
	ch := make(chan FileEvent, 64)
	go w.run(ctx, ch, prev)
	return ch, nil
}

type watch struct {
	files *Files // read-only, for entry descriptions; owns its handle
	abs   string
	ino   uint64 // the watched directory's, 0 when unknown
	depth int
}

func (w *watch) run(ctx context.Context, ch chan<- FileEvent, prev map[string]FileStat) {
	defer close(ch)
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
		gone := w.removed(ctx)
		if gone {
			cur, complete = map[string]FileStat{}, true
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

// removed reports whether the watched directory was deleted or another
// took its place.
func (w *watch) removed(ctx context.Context) bool {
	st, err := w.files.fs.Stat(ctx, w.abs, true)
	if err != nil {
		return ctx.Err() == nil
	}
	return !st.Mode.IsDir() || (w.ino != 0 && st.Ino != w.ino)
}

// scan snapshots the tree; complete is false when it was cut short.
func (w *watch) scan(ctx context.Context) (map[string]FileStat, bool) {
	out := map[string]FileStat{}
	err := w.files.fs.Walk(ctx, w.abs, w.depth, func(rel string, st FileStat) error {
		if len(out) >= maxWatchEntries {
			return errTooManyEntries
		}
		out[rel] = st
		return nil
	})
	return out, err == nil
}

// diff turns two snapshots into events: removals and renames, then
// creations, then writes and mode changes, each sorted by name. Without a
// complete current snapshot, nothing counts as removed.
//
// A new non-empty file is a FileCreated followed by a FileWritten, as
// envd's inotify reports it (IN_CREATE, then IN_MODIFY for the bytes;
// files.write and `echo x > f` alike): clients wait for the WRITE to read
// the content. A move's new name carries no write: inotify reports only
// IN_MOVED_TO (CREATE) for it.
func (w *watch) diff(prev, cur map[string]FileStat, complete bool) []FileEvent {
	prevIno := map[uint64]bool{}
	for _, s := range prev {
		if s.Ino != 0 {
			prevIno[s.Ino] = true
		}
	}
	created := map[uint64]bool{}
	var gone, added, changed []FileEvent
	for name, s := range cur {
		old, ok := prev[name]
		switch {
		case !ok:
			created[s.Ino] = true
			added = append(added, w.event(name, FileCreated, s))
			if s.Mode.IsRegular() && s.Size > 0 && (s.Ino == 0 || !prevIno[s.Ino]) {
				added = append(added, w.event(name, FileWritten, s))
			}
		case s.Mode != old.Mode:
			changed = append(changed, w.event(name, FileChmod, s))
		case !s.Mode.IsDir() && (s.Size != old.Size || !s.ModTime.Equal(old.ModTime) || s.Ino != old.Ino):
			changed = append(changed, w.event(name, FileWritten, s))
		}
	}
	for name, s := range prev {
		if _, ok := cur[name]; ok || !complete {
			continue
		}
		t := FileRemoved
		if s.Ino != 0 && created[s.Ino] {
			t = FileRenamed
		}
		gone = append(gone, FileEvent{Name: name, Type: t})
	}
	// Stable, so a new file's FileWritten stays right after its FileCreated.
	for _, evs := range [][]FileEvent{gone, added, changed} {
		slices.SortStableFunc(evs, func(a, b FileEvent) int { return strings.Compare(a.Name, b.Name) })
	}
	return slices.Concat(gone, added, changed)
}

func (w *watch) event(name string, t FileEventType, s FileStat) FileEvent {
	info := w.files.info(path.Join(w.abs, name), s)
	return FileEvent{Name: name, Type: t, Entry: &info}
}
