package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// testSandboxListSortsAndKeys pins LangSmith's list options: the sorts,
// in both directions with (created_at, id) among equals and sandboxes
// never paused last either way, and label=key (metadata key presence).
func testSandboxListSortsAndKeys(t *testing.T, e env) {
	ctx := t.Context()
	mk := func(name string, sec int, idle, del time.Duration, meta map[string]string) *core.Sandbox {
		b := sandbox("t1", name, base.Add(time.Duration(sec)*time.Second))
		b.IdleTTL, b.DeleteAfterStop, b.Metadata = idle, del, meta
		if name == "d" {
			b.State, b.StartedAt = core.SandboxStarting, time.Time{}
		}
		mustCreateSandbox(t, e.st, b)
		return b
	}
	a := mk("a", 1, 10*time.Minute, 0, map[string]string{"team": "x", "env": ""})
	b := mk("b", 2, time.Minute, time.Hour, map[string]string{"team": "y"})
	c := mk("c", 3, time.Minute, 0, nil)
	d := mk("d", 4, 0, 2*time.Hour, map[string]string{"env": "prod"})
	// Paused c, then a: c has the earlier paused time.
	transition(t, e.st, c.ID, fromRunning, core.SandboxPaused, core.SandboxChange{})
	time.Sleep(2 * time.Millisecond)
	transition(t, e.st, a.ID, fromRunning, core.SandboxPaused, core.SandboxChange{})

	tests := []struct {
		sort      core.SandboxSort
		asc, desc []*core.Sandbox
	}{
		{core.SortCreated, []*core.Sandbox{a, b, c, d}, []*core.Sandbox{d, c, b, a}},
		{core.SortName, []*core.Sandbox{a, b, c, d}, []*core.Sandbox{d, c, b, a}},
		// starting d, running b, then paused a and c by creation.
		{core.SortState, []*core.Sandbox{d, b, a, c}, []*core.Sandbox{c, a, b, d}},
		{core.SortPaused, []*core.Sandbox{c, a, b, d}, []*core.Sandbox{a, c, d, b}},
		{core.SortIdleTTL, []*core.Sandbox{d, b, c, a}, []*core.Sandbox{a, c, b, d}},
		{core.SortDeleteAfterStop, []*core.Sandbox{a, c, b, d}, []*core.Sandbox{d, b, c, a}},
	}
	for _, tt := range tests {
		for _, asc := range []bool{true, false} {
			want := tt.desc
			if asc {
				want = tt.asc
			}
			got, err := e.st.ListSandboxes(ctx, "t1", core.SandboxFilter{Sort: tt.sort, Ascending: asc})
			if err != nil {
				t.Fatalf("sort %q: %v", tt.sort, err)
			}
			diff(t, fmt.Sprintf("sort %q ascending %v", tt.sort, asc), ids(want), ids(got))
		}
	}
	if _, err := e.st.ListSandboxes(ctx, "t1", core.SandboxFilter{Sort: "size"}); err == nil {
		t.Error("an unknown sort was accepted")
	}

	keys := []struct {
		keys []string
		meta map[string]string
		want []*core.Sandbox
	}{
		{[]string{"team"}, nil, []*core.Sandbox{b, a}},
		{[]string{"env"}, nil, []*core.Sandbox{d, a}}, // an empty value is present
		{[]string{"team", "env"}, nil, []*core.Sandbox{a}},
		{[]string{"env"}, map[string]string{"env": "prod"}, []*core.Sandbox{d}},
		{[]string{"missing"}, nil, nil},
		{[]string{"bad\x00key"}, nil, nil},
	}
	for _, tt := range keys {
		got, err := e.st.ListSandboxes(ctx, "t1", core.SandboxFilter{MetadataKeys: tt.keys, Metadata: tt.meta})
		if err != nil {
			t.Fatalf("keys %q: %v", tt.keys, err)
		}
		diff(t, fmt.Sprintf("keys %q metadata %v", tt.keys, tt.meta), ids(tt.want), ids(got))
	}
}
