package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

func tagCases() []storeCase {
	return []storeCase{
		{"snapshot by name and tag", testSnapshotByNameAndTag},
		{"snapshot retag", testSnapshotRetag},
		{"concurrent retag has one holder", testConcurrentRetag},
		{"snapshot list exact filters", testSnapshotListExact},
		{"snapshot finish records memory size", testFinishMemory},
	}
}

func tagged(tenant, name, tag string, created time.Time) *core.Snapshot {
	s := snapshot(tenant, name, created)
	s.Tag = tag
	return s
}

func getByName(t *testing.T, st core.Store, tenant, name, tag string) *core.Snapshot {
	t.Helper()
	got, err := st.GetSnapshotByName(t.Context(), tenant, name, tag)
	if err != nil {
		t.Fatalf("GetSnapshotByName(%s, %s, %q): %v", tenant, name, tag, err)
	}
	return got
}

// holders returns the ids of the tenant's snapshots named name that carry tag.
func holders(t *testing.T, st core.Store, tenant, name, tag string) []string {
	t.Helper()
	all, err := st.ListSnapshots(t.Context(), tenant, core.SnapshotFilter{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range all {
		if s.Tag == tag {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

func testSnapshotByNameAndTag(t *testing.T, e env) {
	ctx := t.Context()
	old := tagged("t1", "app", "v1", base)
	untagged := tagged("t1", "app", "", base.Add(time.Second))
	newest := tagged("t1", "app", "v2", base.Add(2*time.Second))
	for _, s := range []*core.Snapshot{newest, old, untagged} {
		mustCreateSnapshot(t, e.st, s)
	}
	mustCreateSnapshot(t, e.st, tagged("t2", "app", "v3", base.Add(time.Hour)))
	diff(t, "app:v1", stored(old), getByName(t, e.st, "t1", "app", "v1"))
	diff(t, "app:v2", stored(newest), getByName(t, e.st, "t1", "app", "v2"))
	diff(t, "app (newest of any tag)", stored(newest), getByName(t, e.st, "t1", "app", ""))
	_, err := e.st.GetSnapshotByName(ctx, "t1", "app", "v3")
	wantErr(t, "other tenant's tag", err, core.ErrNotFound)

	// The newest row wins even when it has no tag; ties go to the larger id.
	later := tagged("t1", "app", "", base.Add(3*time.Second))
	mustCreateSnapshot(t, e.st, later)
	diff(t, "app (newest, untagged)", stored(later), getByName(t, e.st, "t1", "app", ""))
	tie := tagged("t1", "app", "v4", base.Add(3*time.Second))
	mustCreateSnapshot(t, e.st, tie)
	want := later
	if tie.ID > later.ID {
		want = tie
	}
	if got := getByName(t, e.st, "t1", "app", ""); got.ID != want.ID {
		t.Errorf("newest of a tie = %s, want %s", got.ID, want.ID)
	}
	_, err = e.st.GetSnapshotByName(ctx, "t1", "nope", "")
	wantErr(t, "missing name", err, core.ErrNotFound)
	if msg := core.PublicMessage(err); msg != `snapshot "nope" not found` {
		t.Errorf("PublicMessage = %q", msg)
	}
}

func testSnapshotRetag(t *testing.T, e env) {
	ctx := t.Context()
	retag := func(s *core.Snapshot) {
		t.Helper()
		if err := e.st.CreateSnapshotRetag(ctx, s); err != nil {
			t.Fatalf("CreateSnapshotRetag(%s:%s): %v", s.Name, s.Tag, err)
		}
	}
	first := tagged("t1", "app", "latest", base)
	retag(first) // nothing to take the tag from
	pinned := tagged("t1", "app", "v1", base.Add(time.Second))
	retag(pinned)
	theirs := tagged("t2", "app", "latest", base)
	mustCreateSnapshot(t, e.st, theirs)
	second := tagged("t1", "app", "latest", base.Add(2*time.Second))
	retag(second)
	third := tagged("t1", "app", "latest", base.Add(3*time.Second))
	retag(third)

	diff(t, "holder of app:latest", stored(third), getByName(t, e.st, "t1", "app", "latest"))
	for _, s := range []*core.Snapshot{first, second} {
		got, err := e.st.GetSnapshot(ctx, "t1", s.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := stored(s)
		want.Tag = "" // only the tag changes
		diff(t, "untagged "+s.ID, want, got)
	}
	diff(t, "other tag untouched", stored(pinned), getByName(t, e.st, "t1", "app", "v1"))
	diff(t, "other tenant untouched", stored(theirs), getByName(t, e.st, "t2", "app", "latest"))

	// An untagged retag just inserts; untagged rows never clash.
	plain := tagged("t1", "app", "", base.Add(4*time.Second))
	retag(plain)
	diff(t, "holder after untagged insert", stored(third), getByName(t, e.st, "t1", "app", "latest"))
	if n := len(holders(t, e.st, "t1", "app", "")); n != 3 {
		t.Errorf("%d untagged rows, want 3", n)
	}

	// A clash the retag cannot resolve (the id) is ErrAlreadyExists, and
	// the transaction rolls back: the holder keeps its tag.
	clash := tagged("t1", "app", "latest", base.Add(5*time.Second))
	clash.ID = first.ID
	err := e.st.CreateSnapshotRetag(ctx, clash)
	wantErr(t, "retag with a taken id", err, core.ErrAlreadyExists)
	if msg := core.PublicMessage(err); msg != `snapshot "app:latest" already exists` {
		t.Errorf("PublicMessage = %q", msg)
	}
	diff(t, "holder after a failed retag", stored(third), getByName(t, e.st, "t1", "app", "latest"))
}

// testConcurrentRetag races builds of one name:tag, from one store and
// from a second store on the same database (another process).
func testConcurrentRetag(t *testing.T, e env) {
	other := e.open(t)
	for _, existing := range []bool{false, true} {
		t.Run(fmt.Sprintf("existing holder %v", existing), func(t *testing.T) {
			name := fmt.Sprintf("app-%v", existing)
			rows := 0
			if existing {
				mustCreateSnapshot(t, e.st, tagged("t1", name, "latest", base))
				rows++
			}
			const n = 16
			var wg sync.WaitGroup
			var mu sync.Mutex
			var won []string
			for i := range n {
				st := e.st
				if i%2 == 1 {
					st = other
				}
				wg.Go(func() {
					s := tagged("t1", name, "latest", base.Add(time.Duration(i+1)*time.Second))
					err := st.CreateSnapshotRetag(t.Context(), s)
					switch {
					case err == nil:
						mu.Lock()
						won = append(won, s.ID)
						mu.Unlock()
					case core.KindOf(err) != core.ErrAlreadyExists:
						t.Errorf("concurrent retag: %v, want nil or ErrAlreadyExists", err)
					}
				})
			}
			wg.Wait()
			rows += len(won)
			if len(won) == 0 {
				t.Fatalf("no concurrent retag succeeded")
			}
			t.Logf("%d of %d concurrent retags succeeded", len(won), n)
			h := holders(t, e.st, "t1", name, "latest")
			if len(h) != 1 {
				t.Fatalf("holders of %s:latest = %v, want exactly one", name, h)
			}
			if !slices.Contains(won, h[0]) {
				t.Errorf("holder %s is not one of the successful retags %v", h[0], won)
			}
			all, err := e.st.ListSnapshots(t.Context(), "t1", core.SnapshotFilter{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != rows {
				t.Errorf("%d rows named %s, want %d (every success inserted, no failure did)", len(all), name, rows)
			}
		})
	}
	// Two racing builds always both succeed: SQLite serializes them, and on
	// Postgres the loser's one retry takes the tag from the winner.
	t.Run("pairs", func(t *testing.T) {
		for round := range 20 {
			name := fmt.Sprintf("pair-%d", round)
			if round%2 == 1 {
				mustCreateSnapshot(t, e.st, tagged("t1", name, "latest", base))
			}
			var wg sync.WaitGroup
			for i, st := range []core.Store{e.st, other} {
				wg.Go(func() {
					s := tagged("t1", name, "latest", base.Add(time.Duration(i+1)*time.Second))
					if err := st.CreateSnapshotRetag(t.Context(), s); err != nil {
						t.Errorf("round %d: CreateSnapshotRetag: %v, want both of a pair to succeed", round, err)
					}
				})
			}
			wg.Wait()
			if h := holders(t, e.st, "t1", name, "latest"); len(h) != 1 {
				t.Errorf("round %d: holders %v, want one", round, h)
			}
		}
	})
}

func testSnapshotListExact(t *testing.T, e env) {
	mk := func(name, tag, source string, sec int) {
		s := tagged("t1", name, tag, base.Add(time.Duration(sec)*time.Second))
		s.SourceSandboxID = source
		s.CreatedBy = fmt.Sprintf("%s:%s@%s", name, tag, source) // a label for the checks
		mustCreateSnapshot(t, e.st, s)
	}
	mk("app", "latest", "", 1)
	mk("app", "v1", "sbx-1", 2)
	mk("app", "", "sbx-1", 3)
	mk("app-two", "latest", "", 4)
	mk("my-app", "latest", "sbx-2", 5)
	other := tagged("t2", "app", "latest", base)
	other.SourceSandboxID = "sbx-1"
	mustCreateSnapshot(t, e.st, other)
	tests := []struct {
		f    core.SnapshotFilter
		want []string
	}{
		{core.SnapshotFilter{Name: "app"}, []string{"app:@sbx-1", "app:v1@sbx-1", "app:latest@"}},
		{core.SnapshotFilter{Name: "app", Tag: "latest"}, []string{"app:latest@"}},
		{core.SnapshotFilter{Name: "app", Tag: "v9"}, []string{}},
		// Tag without Name is ignored: every snapshot of the tenant.
		{core.SnapshotFilter{Tag: "latest"}, []string{"my-app:latest@sbx-2", "app-two:latest@", "app:@sbx-1", "app:v1@sbx-1", "app:latest@"}},
		{core.SnapshotFilter{SourceSandboxID: "sbx-1"}, []string{"app:@sbx-1", "app:v1@sbx-1"}},
		{core.SnapshotFilter{SourceSandboxID: "sbx-1", Name: "app", Tag: "v1"}, []string{"app:v1@sbx-1"}},
		{core.SnapshotFilter{NameContains: "APP", Name: "app-two"}, []string{"app-two:latest@"}},
		{core.SnapshotFilter{Name: "app", Limit: 1, Offset: 1}, []string{"app:v1@sbx-1"}},
		{core.SnapshotFilter{Name: "App"}, []string{}},
	}
	for _, tt := range tests {
		got, err := e.st.ListSnapshots(t.Context(), "t1", tt.f)
		if err != nil {
			t.Fatalf("ListSnapshots(%+v): %v", tt.f, err)
		}
		labels := []string{}
		for _, s := range got {
			labels = append(labels, s.CreatedBy)
		}
		diff(t, fmt.Sprintf("ListSnapshots(%+v)", tt.f), tt.want, labels)
	}
}

func testFinishMemory(t *testing.T, e env) {
	ctx := t.Context()
	building := []core.SnapshotStatus{core.SnapshotBuilding}
	for _, size := range []*int64{nil, new(int64(0)), new(int64(3 << 30))} {
		s := snapshot("t1", "app", base)
		s.MemorySnapshotSizeBytes = new(int64(99)) // the result overrides it
		mustCreateSnapshot(t, e.st, s)
		r := core.SnapshotResult{Status: core.SnapshotReady, ImageDigest: "sha256:m", FSUsedBytes: 7, MemoryBytes: size}
		if err := e.st.FinishSnapshot(ctx, s.ID, building, r); err != nil {
			t.Fatalf("FinishSnapshot: %v", err)
		}
		if size != nil {
			*size++ // the store must not keep the caller's pointer
			*size--
		}
		got, err := e.st.GetSnapshot(ctx, "t1", s.ID)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "memory size", size, got.MemorySnapshotSizeBytes)
	}
}
