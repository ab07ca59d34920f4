package core_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// E2B's list filter template names a snapshot as create's templateID does;
// core resolves it, so a name, a name with its tag and an id all select the
// sandboxes started from that snapshot, and a name of no snapshot selects
// none rather than failing the listing.
func TestListResolvesTemplateFilter(t *testing.T) {
	e := newBoxEnv(t)
	fromPy, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{}); err != nil { // the default snapshot
		t.Fatal(err)
	}
	tests := []struct {
		name, template string
		want           []string
		kind           error
	}{
		{"name", "py", []string{fromPy.ID}, nil},
		{"name and default tag", "py:default", []string{fromPy.ID}, nil},
		{"id", e.snap.ID, []string{fromPy.ID}, nil},
		{"no such snapshot", "absent", []string{}, nil},
		{"not a reference", "../x", nil, core.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.boxes.List(e.ctx, core.SandboxFilter{Template: tt.template})
			if tt.kind != nil {
				if !errors.Is(err, tt.kind) {
					t.Fatalf("List(template %q) error %v, want %v", tt.template, err, tt.kind)
				}
				return
			}
			if err != nil {
				t.Fatalf("List(template %q): %v", tt.template, err)
			}
			ids := []string{}
			for _, sb := range got {
				ids = append(ids, sb.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("List(template %q) = %v, want %v", tt.template, ids, tt.want)
			}
		})
	}
}

// A cursor holds a creation time, so it continues only a listing sorted
// by creation; a sort core does not know is the caller's mistake.
func TestListRefusesUnknownSortAndMisplacedCursor(t *testing.T) {
	e := newBoxEnv(t)
	for _, f := range []core.SandboxFilter{
		{Sort: "size"},
		{Sort: core.SortName, AfterCreated: time.Now(), AfterID: "i1"},
	} {
		if _, err := e.boxes.List(e.ctx, f); !errors.Is(err, core.ErrInvalidArgument) {
			t.Errorf("List(%+v) error %v, want ErrInvalidArgument", f, err)
		}
	}
	if _, err := e.boxes.List(e.ctx, core.SandboxFilter{Sort: core.SortName, Ascending: true}); err != nil {
		t.Errorf("List sorted by name: %v", err)
	}
}
