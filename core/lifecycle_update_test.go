package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// LangSmith's PATCH idle_ttl_seconds / delete_after_stop_seconds go
// through Update: what Get returns changes, and the reaper acts on the
// new times, stopping a running box at its idle TTL and deleting a
// stopped one at its delete-after-stop time.
func TestUpdatedIdleTTLAndDeleteAfterStopTakeEffect(t *testing.T) {
	clock := &manualClock{now: time.Now()}
	b := newBoxEnv(t, clock)
	e, boxes := b.env, b.boxes
	sb, err := boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}

	minute := time.Minute
	if _, err := boxes.Update(e.ctx, sb.ID, core.SandboxUpdate{IdleTTL: &minute}); err != nil {
		t.Fatal(err)
	}
	got, err := boxes.Get(e.ctx, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.IdleTTL != minute || got.OnTimeout != core.TimeoutPause || !got.Deadline.Equal(clock.Now().Add(minute).Truncate(time.Microsecond)) {
		t.Errorf("after the idle TTL update: idle TTL %v, action %s, deadline %v; want 1m, pause, %v",
			got.IdleTTL, got.OnTimeout, got.Deadline, clock.Now().Add(minute))
	}
	clock.Add(minute + time.Second)
	waitFor(t, "paused at its idle TTL", func() bool {
		got, err := boxes.Get(e.ctx, sb.ID)
		return err == nil && got.State == core.SandboxPaused
	})

	if _, err := boxes.Update(e.ctx, sb.ID, core.SandboxUpdate{DeleteAfterStop: &minute}); err != nil {
		t.Fatal(err)
	}
	if got, err := boxes.Get(e.ctx, sb.ID); err != nil || got.DeleteAfterStop != minute || got.State != core.SandboxPaused {
		t.Fatalf("after the delete-after-stop update: %+v, %v", got, err)
	}
	clock.Add(minute - time.Second)
	time.Sleep(1500 * time.Millisecond) // a reaper tick: not yet due
	if _, err := boxes.Get(e.ctx, sb.ID); err != nil {
		t.Fatalf("deleted before its delete-after-stop time: %v", err)
	}
	clock.Add(2 * time.Second)
	waitFor(t, "deleted at its delete-after-stop time", func() bool {
		_, err := boxes.Get(e.ctx, sb.ID)
		return errors.Is(err, core.ErrNotFound)
	})
}

// waitFor polls cond for up to 5 s (the reaper ticks every second).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not %s within 5 s", what)
}
