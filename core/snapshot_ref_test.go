package core_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/core"
)

const someID = "8d7a2c4e-0000-4000-8000-000000000000"

func TestParseSnapshotRef(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ref  string
		want core.SnapshotRef
	}{
		{"", core.SnapshotRef{}},
		{"snap", core.SnapshotRef{Name: "snap"}},
		{" Snap:V1 ", core.SnapshotRef{Name: "snap", Tag: "v1"}},
		{"ns/snap:v1.0_x-y", core.SnapshotRef{Name: "ns/snap", Tag: "v1.0_x-y"}},
		{"ns/snap", core.SnapshotRef{Name: "ns/snap"}},
		{"ns/team/snap:_a", core.SnapshotRef{Name: "ns/team/snap", Tag: "_a"}},
		{someID, core.SnapshotRef{ID: someID}},
		{someID + ":default", core.SnapshotRef{ID: someID, Tag: "default"}},
		{"img:a/b", core.SnapshotRef{Name: "img:a/b"}}, // a ':' before the last '/' is no tag
	}
	for _, tc := range cases {
		t.Run(tc.ref, func(t *testing.T) {
			t.Parallel()
			got, err := core.ParseSnapshotRef(tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseSnapshotRef(%q) (-want +got):\n%s", tc.ref, diff)
			}
		})
	}
}

func TestParseSnapshotRefRefusesBadTags(t *testing.T) {
	t.Parallel()
	for _, ref := range []string{":v1", "s:", "s:a b", "s:.", "s:..", "s:-a", "s:$(id)", "s:" + someID, "s:" + strings.Repeat("a", 129)} {
		if _, err := core.ParseSnapshotRef(ref); !errors.Is(err, core.ErrInvalidArgument) {
			t.Errorf("ParseSnapshotRef(%q) = %v, want ErrInvalidArgument", ref, err)
		}
	}
}

func TestSnapshotRefNamespace(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, ns, rest string }{
		{"snap", "", "snap"},
		{"tenant-a/snap", "tenant-a", "snap"},
		{"tenant-a/team/snap", "tenant-a", "team/snap"},
	}
	for _, tc := range cases {
		if ns, rest := (core.SnapshotRef{Name: tc.name}).Namespace(); ns != tc.ns || rest != tc.rest {
			t.Errorf("Namespace of %q = %q, %q; want %q, %q", tc.name, ns, rest, tc.ns, tc.rest)
		}
	}
	if got := core.TeamNamespace("Tenant-A"); got != "tenant-a" {
		t.Errorf("TeamNamespace = %q, want tenant-a", got)
	}
}
