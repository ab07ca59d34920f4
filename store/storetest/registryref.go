package storetest

import (
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// Snapshots record where the snapshot registry holds their image
// (RegistryRef), and can be listed by manifest digest.

func registryRefCases() []storeCase {
	return []storeCase{
		{"snapshot registry ref round trip and finish", testRegistryRefFinish},
		{"snapshot list image digest filter", testSnapshotDigestFilter},
	}
}

func testRegistryRefFinish(t *testing.T, e env) {
	ctx := t.Context()
	created := snapshot("t1", "created", base)
	created.RegistryRef = "registry.test/snaps/t1:" + created.ID + "@sha256:aa"
	mustCreateSnapshot(t, e.st, created)
	got, err := e.st.GetSnapshot(ctx, "t1", created.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "created with a registry ref", stored(created), got)

	s := snapshot("t1", "built", base)
	mustCreateSnapshot(t, e.st, s)
	ref := "registry.test/snaps/t1:" + s.ID + "@sha256:bb"
	ready := core.SnapshotResult{Status: core.SnapshotReady, ImageDigest: "sha256:bb", RegistryRef: ref}
	if err := e.st.FinishSnapshot(ctx, s.ID, []core.SnapshotStatus{core.SnapshotBuilding}, ready); err != nil {
		t.Fatalf("FinishSnapshot: %v", err)
	}
	if got, err := e.st.GetSnapshot(ctx, "t1", s.ID); err != nil || got.RegistryRef != ref {
		t.Errorf("RegistryRef after finish = %+v, %v; want %q", got, err, ref)
	}
	// A failed build records no registry copy.
	f := snapshot("t1", "failed", base)
	f.RegistryRef = "stale"
	mustCreateSnapshot(t, e.st, f)
	failed := core.SnapshotResult{Status: core.SnapshotFailed, StatusMessage: "push failed"}
	if err := e.st.FinishSnapshot(ctx, f.ID, []core.SnapshotStatus{core.SnapshotBuilding}, failed); err != nil {
		t.Fatalf("FinishSnapshot(failed): %v", err)
	}
	if got, err := e.st.GetSnapshot(ctx, "t1", f.ID); err != nil || got.RegistryRef != "" {
		t.Errorf("RegistryRef after a failure = %+v, %v; want empty", got, err)
	}
}

func testSnapshotDigestFilter(t *testing.T, e env) {
	ctx := t.Context()
	var want []string
	for i, tc := range []struct{ tenant, digest string }{
		{"t1", "sha256:shared"}, {"t1", "sha256:other"}, {"t2", "sha256:shared"}, {"t1", "sha256:shared"},
	} {
		s := snapshot(tc.tenant, "app-"+string(rune('a'+i)), base.Add(time.Duration(i)*time.Second))
		s.Status, s.ImageDigest = core.SnapshotReady, tc.digest
		mustCreateSnapshot(t, e.st, s)
		if tc.tenant == "t1" && tc.digest == "sha256:shared" {
			want = append([]string{s.ID}, want...) // newest first
		}
	}
	got, err := e.st.ListSnapshots(ctx, "t1", core.SnapshotFilter{ImageDigest: "sha256:shared", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range got {
		ids = append(ids, s.ID)
	}
	diff(t, "ListSnapshots(ImageDigest)", want, ids)
}
