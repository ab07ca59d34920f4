package engine

import (
	"context"
	"sync"
)

// keyLock serializes work per key (an image source). containerd locks each
// ingest ref (one per blob digest) and a client that finds it locked polls
// with a randomized backoff of up to ~2 s, so concurrent pulls of one image
// are slower than pulls one after the other, which find the content present.
type keyLock struct {
	mu   sync.Mutex
	keys map[string]*keyEntry
}

type keyEntry struct {
	sem  chan struct{} // holds one token while locked
	refs int           // holders and waiters; the entry goes at zero
}

// lock waits for key, or for ctx to end. Call unlock exactly once.
func (k *keyLock) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.keys == nil {
		k.keys = map[string]*keyEntry{}
	}
	e := k.keys[key]
	if e == nil {
		e = &keyEntry{sem: make(chan struct{}, 1)}
		k.keys[key] = e
	}
	e.refs++
	k.mu.Unlock()

	release := func() {
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.keys, key)
		}
		k.mu.Unlock()
	}
	select {
	case e.sem <- struct{}{}:
		return func() { <-e.sem; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
