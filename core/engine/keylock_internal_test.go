package engine

import (
	"context"
	"runtime"
	"testing"
)

// waitQueued polls until n lockers wait for key (no timing: the count is
// the lock's own).
func waitQueued(t *testing.T, k *keyRWLock, key string, n int) {
	t.Helper()
	for k.waiters(key) != n {
		if t.Context().Err() != nil {
			t.Fatal("test ended")
		}
		runtime.Gosched()
	}
}

// Shared holders (dataplane changes) never wait for one another; a capture
// waits for them, and changes that come while it waits or holds wait for
// it; a capture that gives up lets them go.
func TestKeyRWLock(t *testing.T) {
	var k keyRWLock
	ctx := t.Context()
	r1, err := k.rlock(ctx, "sb")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := k.rlock(ctx, "sb")
	if err != nil {
		t.Fatal("a second shared holder waited")
	}
	got := make(chan func(), 1)
	go func() {
		w, err := k.lock(ctx, "sb")
		if err == nil {
			got <- w
		}
	}()
	waitQueued(t, &k, "sb", 1)
	late := make(chan func(), 1)
	go func() {
		r, err := k.rlock(ctx, "sb")
		if err == nil {
			late <- r
		}
	}()
	waitQueued(t, &k, "sb", 2) // behind the waiting capture
	r1()
	r2()
	w := <-got
	select {
	case <-late:
		t.Fatal("a change went ahead while the capture held the lock")
	default:
	}
	w()
	(<-late)()

	// An exclusive waiter whose context ends unblocks shared ones.
	r, _ := k.rlock(ctx, "sb")
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := k.lock(cctx, "sb"); errc <- err }()
	waitQueued(t, &k, "sb", 1)
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("a cancelled lock succeeded")
	}
	r2, err = k.rlock(ctx, "sb")
	if err != nil {
		t.Fatal(err)
	}
	r()
	r2()
	if len(k.keys) != 0 {
		t.Errorf("entries left: %v", k.keys)
	}
}
