package storetest

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

func claimCases() []storeCase {
	return []storeCase{
		{"claim semantics", testClaim},
		{"claim expiry below a second", testClaimSubSecond},
		{"claim release", testRelease},
		{"list claimable builds", testListClaimable},
	}
}

func concurrencyCases() []storeCase {
	return []storeCase{
		{"concurrent creates", testConcurrentCreates},
		{"concurrent claims have one winner", testConcurrentClaims},
	}
}

// claim asserts the outcome of one ClaimSnapshotBuild call.
func claim(t *testing.T, e env, id, owner string, now time.Time, ttl time.Duration, want bool) {
	t.Helper()
	got, err := e.st.ClaimSnapshotBuild(t.Context(), id, owner, now, now.Add(ttl))
	if err != nil {
		t.Fatalf("ClaimSnapshotBuild(%s at %v): %v", owner, now, err)
	}
	if got != want {
		t.Fatalf("ClaimSnapshotBuild(%s at +%v) = %v, want %v", owner, now.Sub(base), got, want)
	}
}

func testClaim(t *testing.T, e env) {
	s := snapshot("t1", "app", base)
	mustCreateSnapshot(t, e.st, s)
	ttl := time.Minute
	claim(t, e, s.ID, "a", base, ttl, true)
	got, err := e.st.GetSnapshot(t.Context(), "", s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClaimOwner != "a" || !got.ClaimExpires.Equal(micro(base.Add(ttl))) {
		t.Errorf("claim = %s until %v, want a until %v", got.ClaimOwner, got.ClaimExpires, micro(base.Add(ttl)))
	}
	claim(t, e, s.ID, "b", base.Add(30*time.Second), ttl, false) // a's claim holds
	claim(t, e, s.ID, "a", base.Add(30*time.Second), ttl, true)  // renewal, to +90s
	claim(t, e, s.ID, "b", base.Add(80*time.Second), ttl, false) // renewed claim holds
	claim(t, e, s.ID, "b", base.Add(91*time.Second), ttl, true)  // expired: taken over
	claim(t, e, s.ID, "a", base.Add(92*time.Second), ttl, false) // now b's
	if got, _ := e.st.GetSnapshot(t.Context(), "", s.ID); got.ClaimOwner != "b" {
		t.Errorf("ClaimOwner = %q, want b", got.ClaimOwner)
	}

	claim(t, e, "no-such-id", "a", base, ttl, false)
	ready := snapshot("t1", "ready", base)
	ready.Status = core.SnapshotReady
	mustCreateSnapshot(t, e.st, ready)
	claim(t, e, ready.ID, "a", base, ttl, false)
}

// SQLite compares stored times as text; fractions of a second must still
// order correctly against whole seconds.
func testClaimSubSecond(t *testing.T, e env) {
	s := snapshot("t1", "app", base)
	mustCreateSnapshot(t, e.st, s)
	start := base.Truncate(time.Second) // a whole second: no fraction in text
	claim(t, e, s.ID, "a", start, 500*time.Millisecond, true)
	claim(t, e, s.ID, "b", start.Add(499*time.Millisecond), time.Minute, false)
	claim(t, e, s.ID, "b", start.Add(500*time.Millisecond), time.Minute, false) // expires < now, not <=
	claim(t, e, s.ID, "b", start.Add(500*time.Millisecond+time.Microsecond), time.Minute, true)
}

func testRelease(t *testing.T, e env) {
	ctx := t.Context()
	s := snapshot("t1", "app", base)
	mustCreateSnapshot(t, e.st, s)
	claim(t, e, s.ID, "a", base, time.Hour, true)
	if err := e.st.ReleaseSnapshotClaim(ctx, s.ID, "b"); err != nil {
		t.Fatalf("ReleaseSnapshotClaim(not owner): %v", err)
	}
	claim(t, e, s.ID, "b", base, time.Hour, false) // b's release did nothing
	if err := e.st.ReleaseSnapshotClaim(ctx, s.ID, "a"); err != nil {
		t.Fatalf("ReleaseSnapshotClaim(owner): %v", err)
	}
	got, err := e.st.GetSnapshot(ctx, "t1", s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClaimOwner != "" || !got.ClaimExpires.IsZero() || got.Status != core.SnapshotBuilding {
		t.Errorf("after release: owner %q until %v, status %s; want no claim, building", got.ClaimOwner, got.ClaimExpires, got.Status)
	}
	claim(t, e, s.ID, "b", base, time.Hour, true)
	if err := e.st.ReleaseSnapshotClaim(ctx, "no-such-id", "a"); err != nil {
		t.Errorf("ReleaseSnapshotClaim(missing): %v, want nil", err)
	}
}

func testListClaimable(t *testing.T, e env) {
	now := base.Add(time.Hour)
	mk := func(tenant, name string, age time.Duration, status core.SnapshotStatus, owner string, expires time.Time) {
		s := snapshot(tenant, name, now.Add(-age))
		s.Status, s.ClaimOwner, s.ClaimExpires = status, owner, expires
		mustCreateSnapshot(t, e.st, s)
	}
	mk("t1", "free", 50*time.Minute, core.SnapshotBuilding, "", time.Time{})
	mk("t2", "mine", 40*time.Minute, core.SnapshotBuilding, "a", now.Add(time.Minute))
	mk("t1", "held", 30*time.Minute, core.SnapshotBuilding, "b", now.Add(time.Minute))
	mk("t2", "expired", 20*time.Minute, core.SnapshotBuilding, "b", now.Add(-time.Second))
	mk("t1", "ready", 60*time.Minute, core.SnapshotReady, "", time.Time{})
	mk("t1", "failed", 10*time.Minute, core.SnapshotFailed, "a", now.Add(time.Minute))
	tests := []struct {
		owner string
		want  []string
	}{
		{"a", []string{"free", "mine", "expired"}},
		{"b", []string{"free", "held", "expired"}},
		{"c", []string{"free", "expired"}},
	}
	for _, tt := range tests {
		got, err := e.st.ListClaimableBuilds(t.Context(), tt.owner, now)
		if err != nil {
			t.Fatalf("ListClaimableBuilds(%s): %v", tt.owner, err)
		}
		diff(t, "claimable by "+tt.owner+", oldest first", tt.want, names(got))
	}
}

func testConcurrentCreates(t *testing.T, e env) {
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			s := snapshot("t1", fmt.Sprintf("app-%02d", i), base.Add(time.Duration(i)*time.Second))
			errs <- e.st.CreateSnapshot(t.Context(), s)
			// Readers run alongside the writers.
			_, err := e.st.ListSnapshots(t.Context(), "t1", core.SnapshotFilter{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent create or list: %v", err)
		}
	}
	got, err := e.st.ListSnapshots(t.Context(), "t1", core.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || got[0].Name != "app-19" || got[n-1].Name != "app-00" {
		t.Errorf("after %d concurrent creates got %d rows %v", n, len(got), names(got))
	}
	// The same name and tag from many goroutines: exactly one wins.
	var ok atomic.Int32
	for range n {
		wg.Go(func() {
			s := snapshot("t1", "contended", base)
			s.Tag = "latest"
			err := e.st.CreateSnapshot(t.Context(), s)
			switch {
			case err == nil:
				ok.Add(1)
			case core.KindOf(err) != core.ErrAlreadyExists:
				t.Errorf("contended create: %v, want nil or ErrAlreadyExists", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("%d contended creates succeeded, want 1", ok.Load())
	}
}

func testConcurrentClaims(t *testing.T, e env) {
	s := snapshot("t1", "app", base)
	mustCreateSnapshot(t, e.st, s)
	const n = 20
	var wg sync.WaitGroup
	winners := make(chan string, n)
	for i := range n {
		owner := fmt.Sprintf("node-%02d", i)
		wg.Go(func() {
			ok, err := e.st.ClaimSnapshotBuild(t.Context(), s.ID, owner, base, base.Add(time.Minute))
			if err != nil {
				t.Errorf("ClaimSnapshotBuild(%s): %v", owner, err)
			}
			if ok {
				winners <- owner
			}
		})
	}
	wg.Wait()
	close(winners)
	var got []string
	for w := range winners {
		got = append(got, w)
	}
	if len(got) != 1 {
		t.Fatalf("winners = %v, want exactly one", got)
	}
	cur, err := e.st.GetSnapshot(t.Context(), "", s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal([]string{cur.ClaimOwner}, got) {
		t.Errorf("ClaimOwner = %q, want the winner %v", cur.ClaimOwner, got)
	}
}
