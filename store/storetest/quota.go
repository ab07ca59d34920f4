package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

func quotaCases() []storeCase {
	return []storeCase{
		{"SandboxQuota", testSandboxQuota},
		{"SnapshotQuota", testSnapshotQuota},
		{"ConcurrentSandboxQuota", testConcurrentSandboxQuota},
		{"ConcurrentSnapshotQuota", testConcurrentSnapshotQuota},
	}
}

var errQuota = core.Errorf(core.ErrResourceExhausted, "quota test limit reached")

// atMost returns an admit function refusing once a count reaches limit,
// recording each Usage it was shown.
func atMost(limit int, count func(core.Usage) int, seen *[]core.Usage) func(core.Usage) error {
	var mu sync.Mutex
	return func(u core.Usage) error {
		mu.Lock()
		defer mu.Unlock()
		if seen != nil {
			*seen = append(*seen, u)
		}
		if count(u) >= limit {
			return errQuota
		}
		return nil
	}
}

func liveSandboxes(u core.Usage) int   { return u.Sandboxes }
func storedSnapshots(u core.Usage) int { return u.Snapshots }

// Only the tenant's live sandboxes count; a refusal is admit's own error
// and leaves no row; a kill frees a place.
func testSandboxQuota(t *testing.T, e env) {
	ctx := t.Context()
	var seen []core.Usage
	admit := atMost(2, liveSandboxes, &seen)
	killed := sandbox("t1", "old", base)
	killed.State = core.SandboxKilled
	mustCreateSandbox(t, e.st, killed)
	mustCreateSandbox(t, e.st, sandbox("t2", "other", base)) // another tenant
	first := sandbox("t1", "a", base)
	for _, b := range []*core.Sandbox{first, sandbox("t1", "b", base)} {
		if err := e.st.CreateSandboxWithin(ctx, b, admit); err != nil {
			t.Fatalf("CreateSandboxWithin(%s) under the limit: %v", b.Name, err)
		}
	}
	over := sandbox("t1", "c", base)
	if err := e.st.CreateSandboxWithin(ctx, over, admit); err != errQuota {
		t.Fatalf("CreateSandboxWithin at the limit: %v, want admit's error unchanged", err)
	}
	if _, err := e.st.GetSandbox(ctx, "t1", over.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("refused sandbox was stored: %v", err)
	}
	diff(t, "usage shown to admit", []core.Usage{{Sandboxes: 0}, {Sandboxes: 1}, {Sandboxes: 2}}, seen)

	transition(t, e.st, first.ID, fromLive, core.SandboxKilled, core.SandboxChange{})
	if err := e.st.CreateSandboxWithin(ctx, over, admit); err != nil {
		t.Fatalf("CreateSandboxWithin after a kill: %v", err)
	}
	// The plain errors still apply: a live name is taken.
	if err := e.st.CreateSandboxWithin(ctx, sandbox("t1", "b", base), func(core.Usage) error { return nil }); !errors.Is(err, core.ErrAlreadyExists) {
		t.Errorf("CreateSandboxWithin of a live name: %v, want ErrAlreadyExists", err)
	}
}

// Snapshots count in any status; stored bytes are a ready snapshot's used
// bytes and memory state, a building one's capacity, a failed one's
// nothing. Retag inserts are counted too.
func testSnapshotQuota(t *testing.T, e env) {
	ctx := t.Context()
	building := snapshot("t1", "building", base) // capacity 1 GiB
	ready := snapshot("t1", "ready", base)
	failed := snapshot("t1", "failed", base)
	for _, s := range []*core.Snapshot{building, ready, failed, snapshot("t2", "other", base)} {
		mustCreateSnapshot(t, e.st, s)
	}
	mem := int64(50)
	finish(t, e.st, ready.ID, core.SnapshotResult{Status: core.SnapshotReady, ImageDigest: "sha256:ab", FSUsedBytes: 100, MemoryBytes: &mem})
	finish(t, e.st, failed.ID, core.SnapshotResult{Status: core.SnapshotFailed, StatusMessage: "no"})

	var seen []core.Usage
	admit := atMost(4, storedSnapshots, &seen)
	if err := e.st.CreateSnapshotWithin(ctx, snapshot("t1", "fourth", base), false, admit); err != nil {
		t.Fatalf("CreateSnapshotWithin under the limit: %v", err)
	}
	over := tagged("t1", "fourth", "latest", base)
	if err := e.st.CreateSnapshotWithin(ctx, over, true, admit); err != errQuota {
		t.Fatalf("CreateSnapshotWithin (retag) at the limit: %v, want admit's error unchanged", err)
	}
	if _, err := e.st.GetSnapshot(ctx, "t1", over.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("refused snapshot was stored: %v", err)
	}
	want := []core.Usage{
		{Snapshots: 3, StorageBytes: 1<<30 + 150},
		{Snapshots: 4, StorageBytes: 2<<30 + 150},
	}
	diff(t, "usage shown to admit", want, seen)

	if err := e.st.DeleteSnapshot(ctx, "t1", failed.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateSnapshotWithin(ctx, over, true, admit); err != nil {
		t.Fatalf("CreateSnapshotWithin (retag) after a delete: %v", err)
	}
	if got := getByName(t, e.st, "t1", "fourth", "latest"); got.ID != over.ID {
		t.Errorf("fourth:latest is %s, want the retagged %s", got.ID, over.ID)
	}
	ok := func(core.Usage) error { return nil }
	if err := e.st.CreateSnapshotWithin(ctx, tagged("t1", "fourth", "latest", base), false, ok); !errors.Is(err, core.ErrAlreadyExists) {
		t.Errorf("CreateSnapshotWithin of a taken name:tag: %v, want ErrAlreadyExists", err)
	}
}

func finish(t *testing.T, st core.Store, id string, r core.SnapshotResult) {
	t.Helper()
	if err := st.FinishSnapshot(t.Context(), id, []core.SnapshotStatus{core.SnapshotBuilding}, r); err != nil {
		t.Fatalf("FinishSnapshot(%s): %v", id, err)
	}
}

// concurrently runs n creates at once, spread over several stores on the
// same database (several processes), and returns how many succeeded; every
// failure must be errQuota. Each store's idle connections are opened first,
// so the creates overlap instead of queueing on connection set-up.
func concurrently(t *testing.T, e env, n int, create func(st core.Store, i int) error) int {
	t.Helper()
	stores := []core.Store{e.st}
	for range 7 {
		stores = append(stores, e.open(t))
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			if err := stores[i%len(stores)].Ping(t.Context()); err != nil {
				t.Error(err)
			}
			<-start
			switch err := create(stores[i%len(stores)], i); {
			case err == nil:
				ok.Add(1)
			case err != errQuota:
				t.Errorf("create %d: %v, want nil or the quota error", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	return int(ok.Load())
}

// Two creates racing for the last place: exactly the quota's worth win.
func testConcurrentSandboxQuota(t *testing.T, e env) {
	const limit, n = 3, 32
	admit := atMost(limit, liveSandboxes, nil)
	got := concurrently(t, e, n, func(st core.Store, i int) error {
		return st.CreateSandboxWithin(t.Context(), sandbox("t1", fmt.Sprintf("box-%02d", i), base.Add(time.Duration(i))), admit)
	})
	if got != limit {
		t.Errorf("%d of %d concurrent creates succeeded, want %d", got, n, limit)
	}
	live, err := e.st.ListSandboxes(t.Context(), "t1", core.SandboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != limit {
		t.Errorf("%d live sandboxes stored, want %d", len(live), limit)
	}
}

func testConcurrentSnapshotQuota(t *testing.T, e env) {
	const limit, n = 3, 32
	admit := atMost(limit, storedSnapshots, nil)
	got := concurrently(t, e, n, func(st core.Store, i int) error {
		// Half retag one name, half take names of their own.
		s := snapshot("t1", fmt.Sprintf("snap-%02d", i), base.Add(time.Duration(i)))
		if i%2 == 0 {
			s = tagged("t1", "shared", "latest", base.Add(time.Duration(i)))
		}
		return st.CreateSnapshotWithin(t.Context(), s, i%2 == 0, admit)
	})
	if got != limit {
		t.Errorf("%d of %d concurrent creates succeeded, want %d", got, n, limit)
	}
	all, err := e.st.ListSnapshots(t.Context(), "t1", core.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != limit {
		t.Errorf("%d snapshots stored, want %d", len(all), limit)
	}
}
