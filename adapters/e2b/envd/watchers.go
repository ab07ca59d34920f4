package envd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem"
	"github.com/snapgate/snapgate/core"
)

// Polled watchers (CreateWatcher, GetWatcherEvents, RemoveWatcher: what
// Python's sync watch_dir uses) turn core's event stream into a queue the
// client drains. They are protocol state, not domain state: each holds a
// watch that outlives the request that made it, bounded by an idle timeout
// so an abandoned watcher does not leak.
const (
	watcherIdle       = 10 * time.Minute
	maxPendingEvents  = 10_000
	maxWatchersPerBox = 64
)

type watchers struct {
	mu sync.Mutex
	m  map[string]*watcher
}

type watcher struct {
	sandboxID string
	stop      func()
	idle      *time.Timer

	mu      sync.Mutex
	pending []*filesystem.FilesystemEvent
	dropped bool
}

func newWatchers() *watchers { return &watchers{m: map[string]*watcher{}} }

// add starts a watcher in fs (core's watch keeps its own handle: the
// caller closes fs).
func (ws *watchers) add(ctx context.Context, sandboxID string, fs *core.Files, dir string, recursive, withEntry bool) (string, error) {
	ws.mu.Lock()
	n := 0
	for _, w := range ws.m {
		if w.sandboxID == sandboxID {
			n++
		}
	}
	ws.mu.Unlock()
	if n >= maxWatchersPerBox {
		return "", core.Errorf(core.ErrResourceExhausted, "sandbox %s has %d watchers: remove some first", sandboxID, n)
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	events, err := fs.Watch(wctx, dir, recursive)
	if err != nil {
		cancel()
		return "", err
	}
	id := newWatcherID()
	w := &watcher{sandboxID: sandboxID, stop: cancel}
	w.idle = time.AfterFunc(watcherIdle, func() { ws.remove(sandboxID, id) })
	go w.collect(events, withEntry)
	ws.mu.Lock()
	ws.m[id] = w
	ws.mu.Unlock()
	return id, nil
}

func (w *watcher) collect(events <-chan core.FileEvent, withEntry bool) {
	for ev := range events {
		w.mu.Lock()
		if len(w.pending) < maxPendingEvents {
			w.pending = append(w.pending, eventOf(ev, withEntry))
		} else {
			w.dropped = true
		}
		w.mu.Unlock()
	}
}

// take returns and clears the watcher's pending events.
func (ws *watchers) take(sandboxID, id string) ([]*filesystem.FilesystemEvent, error) {
	ws.mu.Lock()
	w := ws.m[id]
	ws.mu.Unlock()
	if w == nil || w.sandboxID != sandboxID {
		return nil, core.Errorf(core.ErrNotFound, "watcher %q not found", id)
	}
	w.idle.Reset(watcherIdle)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dropped {
		w.dropped = false
		w.pending = nil
		return nil, core.Errorf(core.ErrResourceExhausted, "more than %d events were not collected: poll more often", maxPendingEvents)
	}
	out := w.pending
	w.pending = nil
	return out, nil
}

func (ws *watchers) remove(sandboxID, id string) error {
	ws.mu.Lock()
	w := ws.m[id]
	if w != nil && w.sandboxID == sandboxID {
		delete(ws.m, id)
	}
	ws.mu.Unlock()
	if w == nil || w.sandboxID != sandboxID {
		return core.Errorf(core.ErrNotFound, "watcher %q not found", id)
	}
	w.idle.Stop()
	w.stop()
	return nil
}

// Close stops every watcher.
func (ws *watchers) Close() {
	ws.mu.Lock()
	all := ws.m
	ws.m = map[string]*watcher{}
	ws.mu.Unlock()
	for _, w := range all {
		w.idle.Stop()
		w.stop()
	}
}

func newWatcherID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
