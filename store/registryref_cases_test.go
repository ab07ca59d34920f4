package store_test

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
		{"migrate a schema without registry refs", testMigrateRegistryRef},
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

// preRegistryRefSnapshotRow is the snapshots table as the version before
// registry refs declared it.
type preRegistryRefSnapshotRow struct {
	ID                      string    `gorm:"primaryKey"`
	TenantID                string    `gorm:"not null;uniqueIndex:idx_snapshots_tenant_name_tag,priority:1"`
	Name                    string    `gorm:"not null;uniqueIndex:idx_snapshots_tenant_name_tag,priority:2"`
	Tag                     *string   `gorm:"uniqueIndex:idx_snapshots_tenant_name_tag,priority:3"`
	Status                  string    `gorm:"not null;index:idx_snapshots_status"`
	StatusMessage           string    `gorm:"not null"`
	DockerImage             string    `gorm:"not null"`
	RegistryID              string    `gorm:"not null"`
	ImageRef                string    `gorm:"not null"`
	ImageDigest             string    `gorm:"not null"`
	FSCapacityBytes         int64     `gorm:"column:fs_capacity_bytes;not null"`
	FSUsedBytes             int64     `gorm:"column:fs_used_bytes;not null"`
	MemorySnapshotSizeBytes *int64    `gorm:"column:memory_snapshot_size_bytes"`
	SourceSandboxID         string    `gorm:"not null"`
	CreatedBy               string    `gorm:"not null"`
	CreatedAt               time.Time `gorm:"not null;autoCreateTime:false"`
	UpdatedAt               time.Time `gorm:"not null;autoUpdateTime:false"`
	ClaimOwner              string    `gorm:"not null"`
	ClaimExpires            *time.Time
}

func (preRegistryRefSnapshotRow) TableName() string { return "snapshots" }

// testMigrateRegistryRef opens the store on a snapshots table with rows
// but without the registry_ref column (NOT NULL: adding it needs its
// default on both databases).
func testMigrateRegistryRef(t *testing.T, e env) {
	ctx := t.Context()
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, e).WithContext(ctx)
	if err := db.Migrator().DropTable("snapshots"); err != nil {
		t.Fatalf("drop table: %v", err)
	}
	if err := db.AutoMigrate(&preRegistryRefSnapshotRow{}); err != nil {
		t.Fatalf("create previous table: %v", err)
	}
	tag := "latest"
	old := preRegistryRefSnapshotRow{ID: newID(), TenantID: "t1", Name: "app", Tag: &tag, Status: "ready",
		ImageRef: "r1", ImageDigest: "sha256:d", CreatedAt: micro(base), UpdatedAt: micro(base)}
	if err := db.Create(&old).Error; err != nil {
		t.Fatalf("insert previous row: %v", err)
	}

	st := e.open(t) // migrates
	got, err := st.GetSnapshot(ctx, "t1", old.ID)
	if err != nil || got.RegistryRef != "" || got.ImageDigest != "sha256:d" {
		t.Fatalf("previous row after migration = %+v, %v; want it with no registry ref", got, err)
	}
	s := snapshot("t1", "new", base)
	s.RegistryRef = "registry.test/snaps/t1:x@sha256:e"
	mustCreateSnapshot(t, st, s)
	if got, err := st.GetSnapshot(ctx, "t1", s.ID); err != nil || got.RegistryRef != s.RegistryRef {
		t.Errorf("new row after migration = %+v, %v; want registry ref %q", got, err, s.RegistryRef)
	}
}
