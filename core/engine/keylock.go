package engine

import (
	"context"
	"sync"
)

// keyRWLock locks per key: lock alone, rlock shared with other rlock
// holders. Most users only lock (one pull per image source, one start or
// kill per sandbox). For a sandbox's files, dataplane changes share it and
// a capture's freeze takes it alone; a waiting lock holds off new rlocks,
// so a stream of uploads cannot keep a capture waiting forever.
//
// Pulls are serialized because containerd locks each ingest ref (one per
// blob digest) and a client that finds it locked polls with a randomized
// backoff of up to ~2 s: concurrent pulls of one image are slower than
// pulls one after the other, which find the content present.
type keyRWLock struct {
	mu   sync.Mutex
	keys map[string]*rwEntry
}

type rwEntry struct {
	shared  int           // shared holders
	excl    bool          // held exclusively
	waiting int           // exclusive lockers waiting
	refs    int           // holders and waiters; the entry goes at zero
	changed chan struct{} // closed (and replaced) at every release
}

// lock waits until key is free of every holder, or for ctx to end. Call
// unlock once (more calls do nothing).
func (k *keyRWLock) lock(ctx context.Context, key string) (unlock func(), err error) {
	return k.acquire(ctx, key, true)
}

// rlock waits until no exclusive holder or waiter has key, or for ctx.
func (k *keyRWLock) rlock(ctx context.Context, key string) (unlock func(), err error) {
	return k.acquire(ctx, key, false)
}

func (k *keyRWLock) acquire(ctx context.Context, key string, excl bool) (func(), error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = map[string]*rwEntry{}
	}
	e := k.keys[key]
	if e == nil {
		e = &rwEntry{changed: make(chan struct{})}
		k.keys[key] = e
	}
	e.refs++
	if excl {
		e.waiting++
	}
	for !e.free(excl) {
		ch := e.changed
		k.mu.Unlock()
		select {
		case <-ch:
			k.mu.Lock()
		case <-ctx.Done():
			k.mu.Lock()
			if excl {
				e.waiting--
				e.wake() // shared waiters held off by this one may go
			}
			k.drop(key, e)
			return nil, ctx.Err()
		}
	}
	if excl {
		e.waiting--
		e.excl = true
	} else {
		e.shared++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			k.mu.Lock()
			defer k.mu.Unlock()
			if excl {
				e.excl = false
			} else {
				e.shared--
			}
			e.wake()
			k.drop(key, e)
		})
	}, nil
}

// free reports whether a locker of that kind may take e now.
func (e *rwEntry) free(excl bool) bool {
	if excl {
		return !e.excl && e.shared == 0
	}
	return !e.excl && e.waiting == 0
}

func (e *rwEntry) wake() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// drop releases one reference of e; called with k.mu held.
func (k *keyRWLock) drop(key string, e *rwEntry) {
	if e.refs--; e.refs == 0 {
		delete(k.keys, key)
	}
}

// waiters counts the lockers waiting for key (tests).
func (k *keyRWLock) waiters(key string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	e := k.keys[key]
	if e == nil {
		return 0
	}
	held := e.shared
	if e.excl {
		held++
	}
	return e.refs - held
}
