package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"github.com/snapgate/snapgate/core"
)

// The schemas snapgate made before versioned migrations, made here the way
// it made them: gorm's AutoMigrate on the row types of each version,
// frozen. Versions, oldest first: 74913f7 (snapshots without tags, a
// unique (tenant_id, name) index; api_keys; registries), b1ab010 (tag, the
// (tenant_id, name, tag) index, the old index dropped by hand; sandboxes),
// 8cbae08 (snapshots.registry_ref), b3cea39 (nodes), b1dfaaa (the last).

type amSnapshotV0 struct {
	ID                      string    `gorm:"primaryKey"`
	TenantID                string    `gorm:"not null;uniqueIndex:idx_snapshots_tenant_name,priority:1"`
	Name                    string    `gorm:"not null;uniqueIndex:idx_snapshots_tenant_name,priority:2"`
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

func (amSnapshotV0) TableName() string { return "snapshots" }

type amSnapshotTags struct {
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

func (amSnapshotTags) TableName() string { return "snapshots" }

type amSnapshot struct {
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
	RegistryRef             string    `gorm:"not null;default:''"`
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

func (amSnapshot) TableName() string { return "snapshots" }

type amAPIKey struct {
	ID        string    `gorm:"primaryKey"`
	TenantID  string    `gorm:"not null;index:idx_api_keys_tenant"`
	Hash      string    `gorm:"not null;uniqueIndex:idx_api_keys_hash"`
	Prefix    string    `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null;autoCreateTime:false"`
}

func (amAPIKey) TableName() string { return "api_keys" }

type amRegistry struct {
	ID        string    `gorm:"primaryKey"`
	TenantID  string    `gorm:"not null;uniqueIndex:idx_registries_tenant_name,priority:1"`
	Name      string    `gorm:"not null;uniqueIndex:idx_registries_tenant_name,priority:2"`
	URL       string    `gorm:"column:url;not null"`
	Username  string    `gorm:"not null"`
	Password  string    `gorm:"not null"`
	AuthType  string    `gorm:"not null"`
	CreatedBy string    `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null;autoCreateTime:false"`
	UpdatedAt time.Time `gorm:"not null;autoUpdateTime:false"`
}

func (amRegistry) TableName() string { return "registries" }

type amSandbox struct {
	ID            string  `gorm:"primaryKey"`
	TenantID      string  `gorm:"not null;index:idx_sandboxes_tenant_created,priority:1;uniqueIndex:idx_sandboxes_tenant_live_name,priority:1"`
	Name          string  `gorm:"not null"`
	LiveName      *string `gorm:"uniqueIndex:idx_sandboxes_tenant_live_name,priority:2"`
	SnapshotID    string  `gorm:"not null;index:idx_sandboxes_snapshot"`
	TemplateRef   string  `gorm:"not null"`
	State         string  `gorm:"not null;index:idx_sandboxes_node_state,priority:2"`
	StatusMessage string  `gorm:"not null"`
	VCPUs         int     `gorm:"column:vcpus;not null"`
	MemoryBytes   int64   `gorm:"not null"`
	DiskBytes     int64   `gorm:"not null"`
	Env           string  `gorm:"type:text;not null"`
	Metadata      string  `gorm:"type:text;not null"`
	OnTimeout     string  `gorm:"not null"`
	Deadline      *time.Time
	AccessToken   string `gorm:"not null"`
	Node          string `gorm:"not null;index:idx_sandboxes_node_state,priority:1"`
	StartedAt     *time.Time
	CreatedAt     time.Time `gorm:"not null;autoCreateTime:false;index:idx_sandboxes_tenant_created,priority:2"`
	UpdatedAt     time.Time `gorm:"not null;autoUpdateTime:false"`
}

func (amSandbox) TableName() string { return "sandboxes" }

type amNode struct {
	Name        string    `gorm:"primaryKey"`
	Address     string    `gorm:"not null"`
	VCPUs       int       `gorm:"column:vcpus;not null"`
	MemoryBytes int64     `gorm:"not null"`
	HeartbeatAt time.Time `gorm:"not null"`
}

func (amNode) TableName() string { return "nodes" }

// autoMigrateVersion is what one version of snapgate did to the schema at
// start.
type autoMigrateVersion struct {
	models []any
	// dropOldIndex: the version dropped the tag-less name index after
	// AutoMigrate.
	dropOldIndex bool
}

var (
	am74913f7 = autoMigrateVersion{models: []any{&amSnapshotV0{}, &amAPIKey{}, &amRegistry{}}}
	amb1ab010 = autoMigrateVersion{models: []any{&amSnapshotTags{}, &amAPIKey{}, &amRegistry{}, &amSandbox{}}, dropOldIndex: true}
	am8cbae08 = autoMigrateVersion{models: []any{&amSnapshot{}, &amAPIKey{}, &amRegistry{}, &amSandbox{}}, dropOldIndex: true}
	amb1dfaaa = autoMigrateVersion{models: []any{&amSnapshot{}, &amAPIKey{}, &amRegistry{}, &amSandbox{}, &amNode{}}, dropOldIndex: true}
	// A start of b1ab010 that stopped between AutoMigrate and the drop.
	amb1ab010Interrupted = autoMigrateVersion{models: amb1ab010.models}
)

// autoMigrateLayout is a database that went through these versions.
type autoMigrateLayout struct {
	name     string
	versions []autoMigrateVersion
}

var autoMigrateLayouts = []autoMigrateLayout{
	{"made by the last AutoMigrate version", []autoMigrateVersion{amb1dfaaa}},
	{"made before nodes", []autoMigrateVersion{am8cbae08}},
	{"made before registry refs", []autoMigrateVersion{amb1ab010}},
	{"made before tags", []autoMigrateVersion{am74913f7}},
	{"before tags, interrupted tag upgrade", []autoMigrateVersion{am74913f7, amb1ab010Interrupted}},
	{"lived through every AutoMigrate version", []autoMigrateVersion{am74913f7, amb1ab010, am8cbae08, amb1dfaaa}},
}

// makeAutoMigrated builds the layout in an empty database.
func makeAutoMigrated(t *testing.T, db *gorm.DB, l autoMigrateLayout) {
	t.Helper()
	for i, v := range l.versions {
		if err := db.AutoMigrate(v.models...); err != nil {
			t.Fatalf("%s: AutoMigrate of version %d: %v", l.name, i, err)
		}
		if v.dropOldIndex && db.Migrator().HasIndex("snapshots", legacySnapshotNameIndex) {
			if err := db.Migrator().DropIndex("snapshots", legacySnapshotNameIndex); err != nil {
				t.Fatalf("%s: drop old index: %v", l.name, err)
			}
		}
	}
}

// legacyTime is a time with microseconds, as stored.
var legacyTime = time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)

// legacyRows are rows written into an AutoMigrate-era database, and what
// the store must read back from them.
type legacyRows struct {
	snapshots []*core.Snapshot
	key       *core.APIKey
	registry  *core.Registry
	sandbox   *core.Sandbox // nil when the layout has no sandboxes table
	node      *core.Node    // nil when the layout has no nodes table
}

// insertLegacyRows writes a row into every table of the layout, using only
// the columns it has.
func insertLegacyRows(t *testing.T, db *gorm.DB) legacyRows {
	t.Helper()
	m := db.Migrator()
	insert := func(table string, row map[string]any) {
		t.Helper()
		if err := db.Table(table).Create(row).Error; err != nil {
			t.Fatalf("insert into %s: %v", table, err)
		}
	}
	var rows legacyRows
	if !m.HasTable("snapshots") {
		return rows
	}
	mem := int64(5)
	ready := &core.Snapshot{ID: "snap-ready", TenantID: "t1", Name: "app", Status: core.SnapshotReady,
		StatusMessage: "done", DockerImage: "busybox", RegistryID: "reg-1", ImageRef: "snapgate/snap-ready",
		ImageDigest: "sha256:d", FSCapacityBytes: 1 << 30, FSUsedBytes: 42, MemorySnapshotSizeBytes: &mem,
		CreatedBy: "key-1", CreatedAt: legacyTime, UpdatedAt: legacyTime}
	building := &core.Snapshot{ID: "snap-building", TenantID: "t2", Name: "app", Status: core.SnapshotBuilding,
		ImageRef: "snapgate/snap-building", SourceSandboxID: "sbx-1", CreatedAt: legacyTime, UpdatedAt: legacyTime,
		ClaimOwner: "node-a", ClaimExpires: legacyTime.Add(time.Hour)}
	if m.HasColumn("snapshots", "tag") {
		ready.Tag = "v1"
	}
	if m.HasColumn("snapshots", "registry_ref") {
		ready.RegistryRef = "registry.test/snaps/t1:snap-ready@sha256:d"
	}
	for _, s := range []*core.Snapshot{ready, building} {
		row := map[string]any{"id": s.ID, "tenant_id": s.TenantID, "name": s.Name, "status": string(s.Status),
			"status_message": s.StatusMessage, "docker_image": s.DockerImage, "registry_id": s.RegistryID,
			"image_ref": s.ImageRef, "image_digest": s.ImageDigest, "fs_capacity_bytes": s.FSCapacityBytes,
			"fs_used_bytes": s.FSUsedBytes, "memory_snapshot_size_bytes": s.MemorySnapshotSizeBytes,
			"source_sandbox_id": s.SourceSandboxID, "created_by": s.CreatedBy, "created_at": s.CreatedAt,
			"updated_at": s.UpdatedAt, "claim_owner": s.ClaimOwner, "claim_expires": nullTime(s.ClaimExpires)}
		if s.Tag != "" {
			row["tag"] = s.Tag
		}
		if s.RegistryRef != "" {
			row["registry_ref"] = s.RegistryRef
		}
		insert("snapshots", row)
	}
	rows.snapshots = []*core.Snapshot{ready, building}

	rows.key = &core.APIKey{ID: "key-1", TenantID: "t1", Hash: "hash-1", Prefix: "e2b_1", CreatedAt: legacyTime}
	insert("api_keys", map[string]any{"id": "key-1", "tenant_id": "t1", "hash": "hash-1", "prefix": "e2b_1", "created_at": legacyTime})
	rows.registry = &core.Registry{ID: "reg-1", TenantID: "t1", Name: "private", URL: "ghcr.io/team", Username: "u",
		Password: "p", AuthType: "DOCKER_CONFIG", CreatedBy: "key-1", CreatedAt: legacyTime, UpdatedAt: legacyTime}
	insert("registries", map[string]any{"id": "reg-1", "tenant_id": "t1", "name": "private", "url": "ghcr.io/team",
		"username": "u", "password": "p", "auth_type": "DOCKER_CONFIG", "created_by": "key-1",
		"created_at": legacyTime, "updated_at": legacyTime})
	if m.HasTable("sandboxes") {
		rows.sandbox = &core.Sandbox{ID: "sbx1", TenantID: "t1", Name: "web", SnapshotID: "snap-ready", TemplateRef: "app",
			State: core.SandboxRunning, VCPUs: 2, MemoryBytes: 512 << 20, DiskBytes: 1 << 30,
			Env: map[string]string{"A": "1"}, Metadata: map[string]string{"team": "a"}, OnTimeout: core.TimeoutKill,
			Deadline: legacyTime.Add(5 * time.Minute), AccessToken: "token", Node: "node-a",
			StartedAt: legacyTime, CreatedAt: legacyTime, UpdatedAt: legacyTime}
		insert("sandboxes", map[string]any{"id": "sbx1", "tenant_id": "t1", "name": "web", "live_name": "web",
			"snapshot_id": "snap-ready", "template_ref": "app", "state": "running", "status_message": "",
			"vcpus": 2, "memory_bytes": 512 << 20, "disk_bytes": 1 << 30, "env": `{"A":"1"}`, "metadata": `{"team":"a"}`,
			"on_timeout": string(core.TimeoutKill), "deadline": legacyTime.Add(5 * time.Minute), "access_token": "token",
			"node": "node-a", "started_at": legacyTime, "created_at": legacyTime, "updated_at": legacyTime})
	}
	if m.HasTable("nodes") {
		rows.node = &core.Node{Name: "node-a", Address: "http://10.0.0.1:8080", VCPUs: 4, MemoryBytes: 8 << 30, HeartbeatAt: legacyTime}
		insert("nodes", map[string]any{"name": "node-a", "address": "http://10.0.0.1:8080", "vcpus": 4,
			"memory_bytes": 8 << 30, "heartbeat_at": legacyTime})
	}
	return rows
}

// check reads every row back through s.
func (r legacyRows) check(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	diff := func(what string, want, got any, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", what, d)
		}
	}
	for _, want := range r.snapshots {
		got, err := s.GetSnapshot(ctx, "", want.ID)
		diff(fmt.Sprintf("snapshot %s", want.ID), want, got, err)
	}
	if r.key != nil {
		got, err := s.GetAPIKeyByHash(ctx, r.key.Hash)
		diff("api key", r.key, got, err)
	}
	if r.registry != nil {
		got, err := s.GetRegistry(ctx, "", r.registry.ID)
		diff("registry", r.registry, got, err)
	}
	if r.sandbox != nil {
		got, err := s.GetSandbox(ctx, "", r.sandbox.ID)
		diff("sandbox", r.sandbox, got, err)
		if byName, err := s.GetSandboxByName(ctx, "t1", "web"); err != nil || byName.ID != r.sandbox.ID {
			t.Errorf("sandbox by live name = %v, %v", byName, err)
		}
	}
	if r.node != nil {
		got, err := s.GetNode(ctx, r.node.Name)
		diff("node", r.node, got, err)
	}
}
