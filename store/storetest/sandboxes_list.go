package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// Listing sandboxes: pages, states, metadata, and the per-node and
// per-snapshot queries the reconcilers use.

func testSandboxListPaging(t *testing.T, e env) {
	ctx := t.Context()
	// Out of order, with ties on created_at (id breaks them) and fractions
	// of a second beside whole seconds.
	whole := base.Truncate(time.Second)
	offsets := []time.Duration{3 * time.Second, 0, time.Second, 500 * time.Millisecond, time.Second, time.Second,
		2*time.Second + time.Microsecond, 2 * time.Second, 0, 1500 * time.Millisecond}
	var live []*core.Sandbox
	for i, off := range offsets {
		b := sandbox("t1", fmt.Sprintf("box-%d", i), whole.Add(off))
		mustCreateSandbox(t, e.st, b)
		live = append(live, b)
	}
	killed := sandbox("t1", "killed", whole.Add(time.Hour))
	killed.State = core.SandboxKilled
	mustCreateSandbox(t, e.st, killed)
	failed := sandbox("t1", "failed", whole.Add(time.Hour))
	failed.State = core.SandboxFailed
	mustCreateSandbox(t, e.st, failed)
	paused := live[4]
	transition(t, e.st, paused.ID, fromRunning, core.SandboxPaused, core.SandboxChange{})
	mustCreateSandbox(t, e.st, sandbox("t2", "theirs", whole.Add(time.Hour)))

	newestFirst := func(boxes []*core.Sandbox) []string {
		s := slices.Clone(boxes)
		slices.SortFunc(s, func(a, b *core.Sandbox) int {
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return -1 * compareStrings(a.ID, b.ID)
		})
		return ids(s)
	}
	wantLive := newestFirst(live)
	all, err := e.st.ListSandboxes(ctx, "t1", core.SandboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "live sandboxes, newest first", wantLive, ids(all))

	for _, limit := range []int{1, 2, 3, 4, len(live), len(live) + 1} {
		var got []string
		f := core.SandboxFilter{Limit: limit}
		for pages := 0; ; pages++ {
			if pages > len(live)+1 {
				t.Fatalf("limit %d: paging does not end", limit)
			}
			page, err := e.st.ListSandboxes(ctx, "t1", f)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(page))
			}
			got = append(got, ids(page)...)
			if len(page) < limit {
				break
			}
			last := page[len(page)-1]
			f.AfterCreated, f.AfterID = last.CreatedAt, last.ID
		}
		diff(t, fmt.Sprintf("pages of %d", limit), wantLive, got)
	}

	// A cursor is strictly before: the cursor row itself never repeats, and
	// a cursor time in another zone means the same instant.
	mid := all[4]
	after, err := e.st.ListSandboxes(ctx, "t1", core.SandboxFilter{AfterCreated: mid.CreatedAt.In(time.FixedZone("Y", -7200)), AfterID: mid.ID})
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "after the fifth", wantLive[5:], ids(after))

	states := []struct {
		states []core.SandboxState
		want   []string
	}{
		{[]core.SandboxState{core.SandboxKilled}, []string{killed.ID}},
		{[]core.SandboxState{core.SandboxPaused}, []string{paused.ID}},
		{[]core.SandboxState{core.SandboxKilled, core.SandboxFailed}, newestFirst([]*core.Sandbox{killed, failed})},
		{[]core.SandboxState{core.SandboxStarting}, []string{}},
		{append(slices.Clone(fromLive), core.SandboxKilled, core.SandboxFailed), newestFirst(append(slices.Clone(live), killed, failed))},
	}
	for _, tt := range states {
		got, err := e.st.ListSandboxes(ctx, "t1", core.SandboxFilter{States: tt.states})
		if err != nil {
			t.Fatal(err)
		}
		diff(t, fmt.Sprintf("States %v", tt.states), tt.want, ids(got))
	}
}

// testSandboxListOrderAndFilters pins E2B's list options: order asc with
// its cursor, the template (snapshot) filter and startedAfter, where a
// sandbox not started yet counts from its creation.
func testSandboxListOrderAndFilters(t *testing.T, e env) {
	ctx := t.Context()
	whole := base.Truncate(time.Second)
	mk := func(name string, created time.Time, snap string, started time.Duration) *core.Sandbox {
		b := sandbox("t1", name, created)
		b.SnapshotID = snap
		b.StartedAt = created.Add(started)
		if started < 0 {
			b.State, b.StartedAt = core.SandboxStarting, time.Time{}
		}
		mustCreateSandbox(t, e.st, b)
		return b
	}
	// Ties on created_at (id breaks them) and a start long after creation.
	a := mk("a", whole, "s1", time.Second)
	b := mk("b", whole.Add(time.Second), "s2", time.Hour)
	c := mk("c", whole.Add(time.Second), "s1", time.Second)
	d := mk("d", whole.Add(2*time.Second+time.Microsecond), "s1", -1) // still starting
	killed := mk("killed", whole.Add(3*time.Second), "s1", time.Second)
	transition(t, e.st, killed.ID, fromLive, core.SandboxKilled, core.SandboxChange{})
	theirs := sandbox("t2", "theirs", whole)
	theirs.SnapshotID = "s1"
	mustCreateSandbox(t, e.st, theirs)

	// sorted lists boxes by (created, id), newest first unless asc.
	sorted := func(asc bool, boxes ...*core.Sandbox) []string {
		s := slices.Clone(boxes)
		slices.SortFunc(s, func(x, y *core.Sandbox) int {
			c := x.CreatedAt.Compare(y.CreatedAt)
			if c == 0 {
				c = compareStrings(x.ID, y.ID)
			}
			if !asc {
				c = -c
			}
			return c
		})
		return ids(s)
	}
	oldestFirst := sorted(true, a, b, c, d)
	all, err := e.st.ListSandboxes(ctx, "t1", core.SandboxFilter{Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "oldest first", oldestFirst, ids(all))
	for _, limit := range []int{1, 2, 3} {
		var got []string
		f := core.SandboxFilter{Ascending: true, Limit: limit}
		for pages := 0; pages <= len(oldestFirst); pages++ {
			page, err := e.st.ListSandboxes(ctx, "t1", f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(page)...)
			if len(page) < limit {
				break
			}
			last := page[len(page)-1]
			f.AfterCreated, f.AfterID = last.CreatedAt, last.ID
		}
		diff(t, fmt.Sprintf("oldest first, pages of %d", limit), oldestFirst, got)
	}

	tests := []struct {
		name string
		f    core.SandboxFilter
		want []*core.Sandbox
	}{
		{"snapshot s1", core.SandboxFilter{SnapshotID: "s1"}, []*core.Sandbox{a, c, d}},
		{"snapshot s2", core.SandboxFilter{SnapshotID: "s2"}, []*core.Sandbox{b}},
		{"snapshot of none", core.SandboxFilter{SnapshotID: "s3"}, nil},
		{"started after a", core.SandboxFilter{StartedAfter: a.StartedAt}, []*core.Sandbox{b, c, d}},
		{"started after c, another zone", core.SandboxFilter{StartedAfter: c.StartedAt.In(time.FixedZone("Y", -7200))}, []*core.Sandbox{b, d}},
		{"started after d's creation", core.SandboxFilter{StartedAfter: d.CreatedAt}, []*core.Sandbox{b}},
		{"started after a, snapshot s1, oldest first", core.SandboxFilter{StartedAfter: a.StartedAt, SnapshotID: "s1", Ascending: true}, []*core.Sandbox{c, d}},
		{"started after everything", core.SandboxFilter{StartedAfter: b.StartedAt}, nil},
	}
	for _, tt := range tests {
		got, err := e.st.ListSandboxes(ctx, "t1", tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		diff(t, tt.name, sorted(tt.f.Ascending, tt.want...), ids(got))
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testSandboxMetadataFilter(t *testing.T, e env) {
	ctx := t.Context()
	mk := func(name string, meta map[string]string, sec int) *core.Sandbox {
		b := sandbox("t1", name, base.Add(time.Duration(sec)*time.Second))
		b.Metadata = meta
		mustCreateSandbox(t, e.st, b)
		return b
	}
	mk("a", map[string]string{"team": "x", "env": "prod"}, 1)
	mk("b", map[string]string{"team": "x", "env": "dev"}, 2)
	mk("c", map[string]string{"team": "X"}, 3)
	mk("d", map[string]string{"team": "", "a.b": "1", `q"k`: `v"q`, "$.team": "x", "sp ace": "é ✓"}, 4)
	mk("e", nil, 5)
	mk("f", map[string]string{"team": "x", "env": "prod", "extra": "1"}, 6)
	killed := mk("g", map[string]string{"team": "x", "env": "prod"}, 7)
	transition(t, e.st, killed.ID, fromLive, core.SandboxKilled, core.SandboxChange{})
	other := sandbox("t2", "h", base)
	other.Metadata = map[string]string{"team": "x", "env": "prod"}
	mustCreateSandbox(t, e.st, other)

	tests := []struct {
		meta  map[string]string
		limit int
		want  []string
	}{
		{nil, 0, []string{"f", "e", "d", "c", "b", "a"}},
		{map[string]string{}, 0, []string{"f", "e", "d", "c", "b", "a"}},
		{map[string]string{"team": "x"}, 0, []string{"f", "b", "a"}},
		{map[string]string{"team": "x", "env": "prod"}, 0, []string{"f", "a"}},
		{map[string]string{"team": "x", "env": "prod"}, 1, []string{"f"}}, // the limit counts matches
		{map[string]string{"team": "x", "env": "prod", "extra": "2"}, 0, []string{}},
		{map[string]string{"team": "X"}, 0, []string{"c"}},
		{map[string]string{"team": ""}, 0, []string{"d"}},
		{map[string]string{"a.b": "1"}, 0, []string{"d"}},
		{map[string]string{`q"k`: `v"q`}, 0, []string{"d"}},
		{map[string]string{"$.team": "x"}, 0, []string{"d"}},
		{map[string]string{"sp ace": "é ✓"}, 0, []string{"d"}},
		{map[string]string{"missing": ""}, 0, []string{}},
		{map[string]string{"env": "prod "}, 0, []string{}},
	}
	for _, tt := range tests {
		got, err := e.st.ListSandboxes(ctx, "t1", core.SandboxFilter{Metadata: tt.meta, Limit: tt.limit})
		if err != nil {
			t.Fatalf("ListSandboxes(metadata %v): %v", tt.meta, err)
		}
		gotNames := []string{}
		for _, b := range got {
			gotNames = append(gotNames, b.Name)
		}
		diff(t, fmt.Sprintf("metadata %v limit %d", tt.meta, tt.limit), tt.want, gotNames)
	}
	got, err := e.st.ListSandboxes(ctx, "t1", core.SandboxFilter{
		Metadata: map[string]string{"team": "x"}, States: []core.SandboxState{core.SandboxKilled},
	})
	if err != nil || len(got) != 1 || got[0].ID != killed.ID {
		t.Errorf("killed with team=x = %v, %v; want %s", got, err, killed.ID)
	}
}

func testSandboxNodeQueries(t *testing.T, e env) {
	ctx := t.Context()
	now := base.Add(time.Hour)
	mk := func(tenant, name, node string, deadline time.Time, state core.SandboxState, snap string) *core.Sandbox {
		b := sandbox(tenant, name, base)
		b.Node, b.Deadline, b.State, b.SnapshotID = node, deadline, state, snap
		mustCreateSandbox(t, e.st, b)
		return b
	}
	past2 := mk("t1", "past2", "a", now.Add(-2*time.Minute), core.SandboxRunning, "s1")
	past1 := mk("t2", "past1", "a", now.Add(-time.Microsecond), core.SandboxPaused, "s1")
	starting := mk("t1", "starting", "a", now.Add(-time.Second), core.SandboxStarting, "s2")
	atNow := mk("t1", "at-now", "a", now, core.SandboxRunning, "s1")
	future := mk("t1", "future", "a", now.Add(time.Minute), core.SandboxRunning, "s1")
	never := mk("t1", "never", "a", time.Time{}, core.SandboxRunning, "s2")
	mk("t1", "killed", "a", now.Add(-time.Hour), core.SandboxKilled, "s1")
	mk("t1", "failed", "a", now.Add(-time.Hour), core.SandboxFailed, "s1")
	other := mk("t1", "other-node", "b", now.Add(-time.Hour), core.SandboxRunning, "s1")

	expired, err := e.st.ListExpiredSandboxes(ctx, "a", now)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "expired on a, soonest deadline first", []string{past2.ID, starting.ID, past1.ID}, ids(expired))
	expired, err = e.st.ListExpiredSandboxes(ctx, "a", now.Add(time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "expired on a, a microsecond later", []string{past2.ID, starting.ID, past1.ID, atNow.ID}, ids(expired))
	expired, err = e.st.ListExpiredSandboxes(ctx, "b", now)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "expired on b", []string{other.ID}, ids(expired))
	if expired, err := e.st.ListExpiredSandboxes(ctx, "c", now); err != nil || len(expired) != 0 {
		t.Errorf("expired on an empty node = %v, %v", expired, err)
	}

	onA, err := e.st.ListNodeSandboxes(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	gotA := ids(onA)
	slices.Sort(gotA)
	wantA := ids([]*core.Sandbox{past2, past1, starting, atNow, future, never})
	slices.Sort(wantA)
	diff(t, "live on node a", wantA, gotA)

	counts := map[string]int{"s1": 5, "s2": 2, "s3": 0} // killed and failed do not count
	for snap, want := range counts {
		n, err := e.st.CountSnapshotUsers(ctx, snap)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("CountSnapshotUsers(%s) = %d, want %d", snap, n, want)
		}
	}
	transition(t, e.st, past1.ID, fromLive, core.SandboxKilled, core.SandboxChange{})
	if n, _ := e.st.CountSnapshotUsers(ctx, "s1"); n != 4 {
		t.Errorf("CountSnapshotUsers(s1) after a kill = %d, want 4", n)
	}
	if expired, _ := e.st.ListExpiredSandboxes(ctx, "a", now); len(expired) != 2 {
		t.Errorf("expired after a kill = %v, want 2", ids(expired))
	}
}
