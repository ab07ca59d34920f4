package store

import (
	"testing"
	"time"

	"gorm.io/gorm"
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
