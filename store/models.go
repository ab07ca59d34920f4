package store

import (
	"time"

	"github.com/snapgate/snapgate/core"
)

// Rows are gorm's view of the tables; only core types leave the package.
// Timestamps are set by core (its Clock), never by gorm, so the automatic
// create/update times are off.

type snapshotRow struct {
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

func (snapshotRow) TableName() string { return "snapshots" }

type apiKeyRow struct {
	ID        string    `gorm:"primaryKey"`
	TenantID  string    `gorm:"not null;index:idx_api_keys_tenant"`
	Hash      string    `gorm:"not null;uniqueIndex:idx_api_keys_hash"`
	Prefix    string    `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null;autoCreateTime:false"`
}

func (apiKeyRow) TableName() string { return "api_keys" }

type registryRow struct {
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

func (registryRow) TableName() string { return "registries" }

func snapshotToRow(s *core.Snapshot) *snapshotRow {
	r := &snapshotRow{
		ID: s.ID, TenantID: s.TenantID, Name: s.Name, Status: string(s.Status),
		StatusMessage: s.StatusMessage, DockerImage: s.DockerImage, RegistryID: s.RegistryID,
		ImageRef: s.ImageRef, ImageDigest: s.ImageDigest,
		FSCapacityBytes: s.FSCapacityBytes, FSUsedBytes: s.FSUsedBytes,
		MemorySnapshotSizeBytes: copyPtr(s.MemorySnapshotSizeBytes),
		SourceSandboxID:         s.SourceSandboxID, CreatedBy: s.CreatedBy,
		CreatedAt: dbTime(s.CreatedAt), UpdatedAt: dbTime(s.UpdatedAt),
		ClaimOwner: s.ClaimOwner,
	}
	if !s.ClaimExpires.IsZero() {
		t := dbTime(s.ClaimExpires)
		r.ClaimExpires = &t
	}
	return r
}

func (r *snapshotRow) toCore() *core.Snapshot {
	s := &core.Snapshot{
		ID: r.ID, TenantID: r.TenantID, Name: r.Name, Status: core.SnapshotStatus(r.Status),
		StatusMessage: r.StatusMessage, DockerImage: r.DockerImage, RegistryID: r.RegistryID,
		ImageRef: r.ImageRef, ImageDigest: r.ImageDigest,
		FSCapacityBytes: r.FSCapacityBytes, FSUsedBytes: r.FSUsedBytes,
		MemorySnapshotSizeBytes: copyPtr(r.MemorySnapshotSizeBytes),
		SourceSandboxID:         r.SourceSandboxID, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		ClaimOwner: r.ClaimOwner,
	}
	if r.ClaimExpires != nil {
		s.ClaimExpires = r.ClaimExpires.UTC()
	}
	return s
}

func apiKeyToRow(k *core.APIKey) *apiKeyRow {
	return &apiKeyRow{ID: k.ID, TenantID: k.TenantID, Hash: k.Hash, Prefix: k.Prefix, CreatedAt: dbTime(k.CreatedAt)}
}

func (r *apiKeyRow) toCore() *core.APIKey {
	return &core.APIKey{ID: r.ID, TenantID: r.TenantID, Hash: r.Hash, Prefix: r.Prefix, CreatedAt: r.CreatedAt.UTC()}
}

func registryToRow(g *core.Registry) *registryRow {
	return &registryRow{
		ID: g.ID, TenantID: g.TenantID, Name: g.Name, URL: g.URL,
		Username: g.Username, Password: g.Password, AuthType: g.AuthType, CreatedBy: g.CreatedBy,
		CreatedAt: dbTime(g.CreatedAt), UpdatedAt: dbTime(g.UpdatedAt),
	}
}

func (r *registryRow) toCore() *core.Registry {
	return &core.Registry{
		ID: r.ID, TenantID: r.TenantID, Name: r.Name, URL: r.URL,
		Username: r.Username, Password: r.Password, AuthType: r.AuthType, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// copyPtr keeps callers from aliasing a row's nullable field.
func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
