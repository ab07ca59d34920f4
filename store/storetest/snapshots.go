package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

func snapshotCases() []storeCase {
	return []storeCase{
		{"snapshot round trip", testSnapshotRoundTrip},
		{"snapshot duplicate name", testSnapshotDuplicate},
		{"snapshot tenant isolation", testSnapshotTenantIsolation},
		{"snapshot list order and paging", testSnapshotListPaging},
		{"snapshot list name filter", testSnapshotListFilter},
		{"snapshot finish compare-and-set", testFinishSnapshot},
		{"snapshot image refs", testSnapshotImageRefs},
		{"reopen keeps data", testReopen},
	}
}

func testSnapshotRoundTrip(t *testing.T, e env) {
	ctx := t.Context()
	plain := snapshot("t1", "plain", base)
	full := snapshot("t1", "full", base.Add(time.Second))
	full.Tag = "v1.2"
	mem := int64(0) // a zero size must not come back as nil
	full.MemorySnapshotSizeBytes = &mem
	full.Status, full.StatusMessage, full.ImageDigest = core.SnapshotReady, "done", "sha256:abc"
	full.FSUsedBytes, full.RegistryID, full.SourceSandboxID = 12345, "reg-1", "sbx-1"
	full.UpdatedAt = base.Add(time.Minute + 999)
	full.ClaimOwner, full.ClaimExpires = "node-a", base.Add(time.Hour+1)
	for _, s := range []*core.Snapshot{plain, full} {
		mustCreateSnapshot(t, e.st, s)
		for _, tenant := range []string{"t1", ""} {
			got, err := e.st.GetSnapshot(ctx, tenant, s.ID)
			if err != nil {
				t.Fatalf("GetSnapshot(%q, %s): %v", tenant, s.Name, err)
			}
			diff(t, "GetSnapshot "+s.Name, stored(s), got)
			checkUTC(t, "GetSnapshot", got.CreatedAt, got.UpdatedAt)
		}
		got, err := e.st.GetSnapshotByName(ctx, "t1", s.Name, s.Tag)
		if err != nil {
			t.Fatalf("GetSnapshotByName(%s): %v", s.Name, err)
		}
		diff(t, "GetSnapshotByName "+s.Name, stored(s), got)
	}
	if got, _ := e.st.GetSnapshot(ctx, "t1", plain.ID); got.MemorySnapshotSizeBytes != nil {
		t.Errorf("MemorySnapshotSizeBytes = %d, want nil", *got.MemorySnapshotSizeBytes)
	}
	if got, _ := e.st.GetSnapshot(ctx, "t1", full.ID); got.ClaimExpires.Location() != time.UTC {
		t.Errorf("ClaimExpires in %v, want UTC", got.ClaimExpires.Location())
	}
	_, err := e.st.GetSnapshot(ctx, "t1", "no-such-id")
	wantErr(t, "GetSnapshot(missing)", err, core.ErrNotFound)
	_, err = e.st.GetSnapshotByName(ctx, "t1", "no-such-name", "")
	wantErr(t, "GetSnapshotByName(missing)", err, core.ErrNotFound)
	_, err = e.st.GetSnapshotByName(ctx, "t1", "full", "v9")
	wantErr(t, "GetSnapshotByName(missing tag)", err, core.ErrNotFound)
	if msg := core.PublicMessage(err); msg != `snapshot "full:v9" not found` {
		t.Errorf("PublicMessage = %q, want the client-safe text", msg)
	}
}

func testSnapshotDuplicate(t *testing.T, e env) {
	first := snapshot("t1", "app", base)
	first.Tag = "latest"
	mustCreateSnapshot(t, e.st, first)
	dup := snapshot("t1", "app", base)
	dup.Tag = "latest"
	err := e.st.CreateSnapshot(t.Context(), dup)
	wantErr(t, "same name and tag, same tenant", err, core.ErrAlreadyExists)
	if msg := core.PublicMessage(err); msg != `snapshot "app:latest" already exists` {
		t.Errorf("PublicMessage = %q, want the client-safe text", msg)
	}
	sameID := snapshot("t1", "other", base)
	sameID.ID = first.ID
	wantErr(t, "same id", e.st.CreateSnapshot(t.Context(), sameID), core.ErrAlreadyExists)
	other := snapshot("t2", "app", base)
	other.Tag = "latest"
	mustCreateSnapshot(t, e.st, other)
	// Another tag of the name, and any number of untagged rows, coexist.
	v2 := snapshot("t1", "app", base)
	v2.Tag = "v2"
	mustCreateSnapshot(t, e.st, v2)
	mustCreateSnapshot(t, e.st, snapshot("t1", "app", base))
	mustCreateSnapshot(t, e.st, snapshot("t1", "app", base))
}

func testSnapshotTenantIsolation(t *testing.T, e env) {
	ctx := t.Context()
	mine := snapshot("t1", "app", base)
	theirs := snapshot("t2", "app", base)
	mustCreateSnapshot(t, e.st, mine)
	mustCreateSnapshot(t, e.st, theirs)

	onlyTheirs := snapshot("t2", "only-theirs", base)
	mustCreateSnapshot(t, e.st, onlyTheirs)
	_, err := e.st.GetSnapshot(ctx, "t1", theirs.ID)
	wantErr(t, "GetSnapshot(other tenant)", err, core.ErrNotFound)
	_, err = e.st.GetSnapshotByName(ctx, "t1", onlyTheirs.Name, "")
	wantErr(t, "GetSnapshotByName(other tenant)", err, core.ErrNotFound)
	wantErr(t, "DeleteSnapshot(other tenant)", e.st.DeleteSnapshot(ctx, "t1", theirs.ID), core.ErrNotFound)
	got, err := e.st.GetSnapshotByName(ctx, "t2", "app", "")
	if err != nil || got.ID != theirs.ID {
		t.Fatalf("GetSnapshotByName(t2) = %v, %v; want %s after t1's failed delete", got, err, theirs.ID)
	}
	list, err := e.st.ListSnapshots(ctx, "t1", core.SnapshotFilter{})
	if err != nil || len(list) != 1 || list[0].ID != mine.ID {
		t.Fatalf("ListSnapshots(t1) = %v, %v; want only %s", list, err, mine.ID)
	}
	all, err := e.st.ListSnapshots(ctx, "", core.SnapshotFilter{})
	if err != nil || len(all) != 3 {
		t.Fatalf("ListSnapshots(any tenant) = %d rows, %v; want 3", len(all), err)
	}

	if err := e.st.DeleteSnapshot(ctx, "t1", mine.ID); err != nil {
		t.Fatalf("DeleteSnapshot(own): %v", err)
	}
	_, err = e.st.GetSnapshot(ctx, "t1", mine.ID)
	wantErr(t, "GetSnapshot(deleted)", err, core.ErrNotFound)
	wantErr(t, "DeleteSnapshot(again)", e.st.DeleteSnapshot(ctx, "t1", mine.ID), core.ErrNotFound)
	if err := e.st.DeleteSnapshot(ctx, "", theirs.ID); err != nil {
		t.Fatalf("DeleteSnapshot(any tenant): %v", err)
	}
}

func testSnapshotListPaging(t *testing.T, e env) {
	// Created out of order; "d" and "e" share a timestamp, so id breaks the tie.
	at := map[string]time.Duration{"a": 0, "b": 3 * time.Second, "c": time.Second, "d": 2 * time.Second, "e": 2 * time.Second}
	ids := map[string]string{}
	for _, n := range []string{"c", "a", "e", "b", "d"} {
		s := snapshot("t1", n, base.Add(at[n]))
		ids[n] = s.ID
		mustCreateSnapshot(t, e.st, s)
	}
	mustCreateSnapshot(t, e.st, snapshot("t2", "z", base.Add(time.Hour)))
	de := []string{"d", "e"}
	if ids["d"] < ids["e"] {
		de = []string{"e", "d"}
	}
	newestFirst := append(append([]string{"b"}, de...), "c", "a")
	tests := []struct {
		f    core.SnapshotFilter
		want []string
	}{
		{core.SnapshotFilter{}, newestFirst},
		{core.SnapshotFilter{Limit: 2}, newestFirst[:2]},
		{core.SnapshotFilter{Limit: 2, Offset: 1}, newestFirst[1:3]},
		{core.SnapshotFilter{Offset: 3}, newestFirst[3:]},
		{core.SnapshotFilter{Limit: 10, Offset: 4}, newestFirst[4:]},
		{core.SnapshotFilter{Limit: 10, Offset: 5}, []string{}},
	}
	for _, tt := range tests {
		got, err := e.st.ListSnapshots(t.Context(), "t1", tt.f)
		if err != nil {
			t.Fatalf("ListSnapshots(%+v): %v", tt.f, err)
		}
		diff(t, "ListSnapshots names", tt.want, names(got))
	}
}

func testSnapshotListFilter(t *testing.T, e env) {
	// The store does not validate names, so LIKE's special characters can
	// be stored and must match only themselves.
	for _, n := range []string{"my_app", "myxapp", "MixedCase", "100%", "1000", `back\slash`, "backxslash"} {
		mustCreateSnapshot(t, e.st, snapshot("t1", n, base))
	}
	mustCreateSnapshot(t, e.st, snapshot("t2", "my_app_other_tenant", base))
	tests := []struct {
		sub  string
		want []string
	}{
		{"y_a", []string{"my_app"}},
		{"_", []string{"my_app"}},
		{"0%", []string{"100%"}},
		{"%", []string{"100%"}},
		{`\`, []string{`back\slash`}},
		{"mixedcase", []string{"MixedCase"}},
		{"XAPP", []string{"myxapp"}},
		{"app", []string{"my_app", "myxapp"}},
		{"nothing", []string{}},
	}
	for _, tt := range tests {
		got, err := e.st.ListSnapshots(t.Context(), "t1", core.SnapshotFilter{NameContains: tt.sub})
		if err != nil {
			t.Fatalf("ListSnapshots(%q): %v", tt.sub, err)
		}
		gotNames := names(got)
		slices.Sort(gotNames)
		diff(t, "NameContains "+tt.sub, tt.want, gotNames)
	}
}

func testFinishSnapshot(t *testing.T, e env) {
	ctx := t.Context()
	s := snapshot("t1", "app", base)
	s.ClaimOwner, s.ClaimExpires = "node-a", base.Add(time.Hour)
	mustCreateSnapshot(t, e.st, s)
	before := time.Now().Add(-time.Second)
	ready := core.SnapshotResult{Status: core.SnapshotReady, ImageDigest: "sha256:d", FSUsedBytes: 42, StatusMessage: "ok"}
	building := []core.SnapshotStatus{core.SnapshotBuilding}
	if err := e.st.FinishSnapshot(ctx, s.ID, building, ready); err != nil {
		t.Fatalf("FinishSnapshot(building -> ready): %v", err)
	}
	got, err := e.st.GetSnapshot(ctx, "t1", s.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := stored(s)
	want.Status, want.StatusMessage, want.ImageDigest, want.FSUsedBytes = core.SnapshotReady, "ok", "sha256:d", 42
	want.ClaimOwner, want.ClaimExpires, want.UpdatedAt = "", time.Time{}, got.UpdatedAt
	diff(t, "finished snapshot", want, got)
	if got.UpdatedAt.Before(before) || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("UpdatedAt = %v, want a UTC time after %v", got.UpdatedAt, before)
	}

	failed := core.SnapshotResult{Status: core.SnapshotFailed, StatusMessage: "late"}
	err = e.st.FinishSnapshot(ctx, s.ID, building, failed)
	wantErr(t, "FinishSnapshot(from ready)", err, core.ErrFailedPrecondition)
	var te *core.TransitionError
	if !errors.As(err, &te) || te.From != "ready" || te.To != "failed" {
		t.Errorf("err = %#v, want a TransitionError from ready to failed", err)
	}
	if got, _ := e.st.GetSnapshot(ctx, "t1", s.ID); got.Status != core.SnapshotReady || got.StatusMessage != "ok" {
		t.Errorf("after a missed CAS the row is %s %q, want it unchanged", got.Status, got.StatusMessage)
	}
	err = e.st.FinishSnapshot(ctx, s.ID, nil, failed)
	wantErr(t, "FinishSnapshot(no predecessors)", err, core.ErrFailedPrecondition)

	gone := snapshot("t1", "gone", base)
	mustCreateSnapshot(t, e.st, gone)
	if err := e.st.DeleteSnapshot(ctx, "t1", gone.ID); err != nil {
		t.Fatal(err)
	}
	err = e.st.FinishSnapshot(ctx, gone.ID, building, ready)
	wantErr(t, "FinishSnapshot(deleted)", err, core.ErrFailedPrecondition)
	if !errors.As(err, &te) || te.From != "deleted" {
		t.Errorf("err = %#v, want a TransitionError from deleted", err)
	}
}

func testSnapshotImageRefs(t *testing.T, e env) {
	refs, err := e.st.SnapshotImageRefs(t.Context())
	if err != nil || len(refs) != 0 {
		t.Fatalf("SnapshotImageRefs(empty) = %v, %v; want none", refs, err)
	}
	var want []string
	for i, tenant := range []string{"t1", "t2", "t3"} {
		s := snapshot(tenant, "app", base)
		if i == 2 {
			s.Status = core.SnapshotFailed
		}
		mustCreateSnapshot(t, e.st, s)
		want = append(want, s.ImageRef)
	}
	refs, err = e.st.SnapshotImageRefs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(refs)
	slices.Sort(want)
	diff(t, "SnapshotImageRefs", want, refs)
}

// testReopen closes the handle, if it can be closed, and opens another:
// the rows are still there (for a database, reopening runs its migrations
// on a schema that has rows).
func testReopen(t *testing.T, e env) {
	s := snapshot("t1", "app", base)
	mustCreateSnapshot(t, e.st, s)
	if c, ok := closer(e.st); ok {
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := e.st.Ping(t.Context()); err == nil {
			t.Errorf("Ping after Close succeeded, want an error")
		}
	}
	again := e.open(t)
	got, err := again.GetSnapshot(t.Context(), "t1", s.ID)
	if err != nil {
		t.Fatalf("GetSnapshot after reopen: %v", err)
	}
	diff(t, "snapshot after reopen", stored(s), got)
	if err := again.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
