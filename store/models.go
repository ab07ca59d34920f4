package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/snapgate/snapgate/core"
)

// Rows are gorm's view of the tables; only core types leave the package.
// The tables themselves are made by migrations/, so tags here only name
// columns and keys (TestRowsMatchTables keeps the two in step).
// Timestamps are set by core (its Clock), never by gorm, so the automatic
// create/update times are off.

type snapshotRow struct {
	ID       string `gorm:"primaryKey"`
	TenantID string
	Name     string
	// Tag is NULL for an untagged snapshot: NULLs never collide in a unique
	// index (on both databases), so any number of rows may lose their tag.
	Tag                     *string
	Status                  string
	StatusMessage           string
	DockerImage             string
	RegistryID              string
	ImageRef                string
	ImageDigest             string
	RegistryRef             string
	FSCapacityBytes         int64  `gorm:"column:fs_capacity_bytes"`
	FSUsedBytes             int64  `gorm:"column:fs_used_bytes"`
	MemorySnapshotSizeBytes *int64 `gorm:"column:memory_snapshot_size_bytes"`
	SourceSandboxID         string
	CreatedBy               string
	CreatedAt               time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt               time.Time `gorm:"autoUpdateTime:false"`
	ClaimOwner              string
	ClaimExpires            *time.Time
	// Labels is a JSON object as text.
	Description string
	Labels      string
}

func (snapshotRow) TableName() string { return "snapshots" }

type apiKeyRow struct {
	ID        string `gorm:"primaryKey"`
	TenantID  string
	Hash      string
	Prefix    string
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
}

func (apiKeyRow) TableName() string { return "api_keys" }

type registryRow struct {
	ID        string `gorm:"primaryKey"`
	TenantID  string
	Name      string
	URL       string `gorm:"column:url"`
	Username  string
	Password  string
	AuthType  string
	CreatedBy string
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt time.Time `gorm:"autoUpdateTime:false"`
}

func (registryRow) TableName() string { return "registries" }

func snapshotToRow(s *core.Snapshot) *snapshotRow {
	r := &snapshotRow{
		ID: s.ID, TenantID: s.TenantID, Name: s.Name, Tag: nullString(s.Tag), Status: string(s.Status),
		StatusMessage: s.StatusMessage, DockerImage: s.DockerImage, RegistryID: s.RegistryID,
		ImageRef: s.ImageRef, ImageDigest: s.ImageDigest, RegistryRef: s.RegistryRef,
		FSCapacityBytes: s.FSCapacityBytes, FSUsedBytes: s.FSUsedBytes,
		MemorySnapshotSizeBytes: copyPtr(s.MemorySnapshotSizeBytes),
		SourceSandboxID:         s.SourceSandboxID, CreatedBy: s.CreatedBy,
		CreatedAt: dbTime(s.CreatedAt), UpdatedAt: dbTime(s.UpdatedAt),
		ClaimOwner: s.ClaimOwner, Description: s.Description, Labels: labelsText(s.Labels),
	}
	if !s.ClaimExpires.IsZero() {
		t := dbTime(s.ClaimExpires)
		r.ClaimExpires = &t
	}
	return r
}

func (r *snapshotRow) toCore() *core.Snapshot {
	s := &core.Snapshot{
		ID: r.ID, TenantID: r.TenantID, Name: r.Name, Tag: deref(r.Tag), Status: core.SnapshotStatus(r.Status),
		StatusMessage: r.StatusMessage, DockerImage: r.DockerImage, RegistryID: r.RegistryID,
		ImageRef: r.ImageRef, ImageDigest: r.ImageDigest, RegistryRef: r.RegistryRef,
		FSCapacityBytes: r.FSCapacityBytes, FSUsedBytes: r.FSUsedBytes,
		MemorySnapshotSizeBytes: copyPtr(r.MemorySnapshotSizeBytes),
		SourceSandboxID:         r.SourceSandboxID, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		ClaimOwner: r.ClaimOwner, Description: r.Description,
	}
	s.Labels = labelsFrom(r.Labels)
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

func (s *Store) registryToRow(g *core.Registry) (*registryRow, error) {
	password, err := s.sealer.Seal(g.Password, registryPasswordAAD(g.ID))
	if err != nil {
		return nil, fmt.Errorf("seal password of registry %s: %w", g.ID, err)
	}
	return &registryRow{
		ID: g.ID, TenantID: g.TenantID, Name: g.Name, URL: g.URL,
		Username: g.Username, Password: password, AuthType: g.AuthType, CreatedBy: g.CreatedBy,
		CreatedAt: dbTime(g.CreatedAt), UpdatedAt: dbTime(g.UpdatedAt),
	}, nil
}

func (s *Store) registryToCore(r *registryRow) (*core.Registry, error) {
	password, _, err := s.sealer.Open(r.Password, registryPasswordAAD(r.ID))
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", r.ID, err)
	}
	return &core.Registry{
		ID: r.ID, TenantID: r.TenantID, Name: r.Name, URL: r.URL,
		Username: r.Username, Password: password, AuthType: r.AuthType, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}, nil
}

// nullString is v, or nil (NULL) when v is empty.
func nullString(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

// deref is *p, or the zero value when p is nil (NULL).
func deref[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}

// nullTime is the stored form of t, or nil (NULL) when t is zero.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	v := dbTime(t)
	return &v
}

// coreTime is a nullable column as core sees it: UTC, zero for NULL.
func coreTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// copyPtr keeps callers from aliasing a row's nullable field.
func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// sandboxRow is a sandbox. LiveName equals Name while the sandbox is live
// (starting, running, paused) and is NULL once it is killed or failed, or
// when it has no name: the unique index on (tenant_id, live_name) makes
// names unique among a tenant's live sandboxes only, on both databases,
// since NULLs never collide. Env and Metadata are JSON objects as text.
type sandboxRow struct {
	ID            string `gorm:"primaryKey"`
	TenantID      string
	Name          string
	LiveName      *string
	SnapshotID    string
	TemplateRef   string
	State         string
	StatusMessage string
	VCPUs         int `gorm:"column:vcpus"`
	MemoryBytes   int64
	DiskBytes     int64
	Env           string
	Metadata      string
	OnTimeout     string
	Deadline      *time.Time // NULL: no deadline
	AccessToken   string
	Node          string
	StartedAt     *time.Time // NULL: not started yet
	CreatedAt     time.Time  `gorm:"autoCreateTime:false"`
	UpdatedAt     time.Time  `gorm:"autoUpdateTime:false"`
	// Seconds; 0 for none.
	IdleTTLSeconds         int64 `gorm:"column:idle_ttl_seconds"`
	DeleteAfterStopSeconds int64 `gorm:"column:delete_after_stop_seconds"`
	// Network is core.NetworkPolicy as JSON.
	Network string
}

func (sandboxRow) TableName() string { return "sandboxes" }

// liveStates are the states in which a sandbox exists for clients.
var liveStates = []string{string(core.SandboxStarting), string(core.SandboxRunning), string(core.SandboxPaused)}

// liveName is the live_name column of a sandbox named name in state st.
func liveName(name string, st core.SandboxState) *string {
	if !st.Live() {
		return nil
	}
	return nullString(name)
}

func (s *Store) sandboxToRow(b *core.Sandbox) (*sandboxRow, error) {
	if err := checkMap("env", b.Env); err != nil {
		return nil, err
	}
	if err := checkMap("metadata", b.Metadata); err != nil {
		return nil, err
	}
	env, err := encodeMap(b.Env)
	if err != nil {
		return nil, fmt.Errorf("encode env of sandbox %s: %w", b.ID, err)
	}
	meta, err := encodeMap(b.Metadata)
	if err != nil {
		return nil, fmt.Errorf("encode metadata of sandbox %s: %w", b.ID, err)
	}
	net, err := encodeNetwork(b.Network)
	if err != nil {
		return nil, fmt.Errorf("encode network policy of sandbox %s: %w", b.ID, err)
	}
	token, err := s.sealer.Seal(b.AccessToken, accessTokenAAD(b.ID))
	if err != nil {
		return nil, fmt.Errorf("seal access token of sandbox %s: %w", b.ID, err)
	}
	return &sandboxRow{
		ID: b.ID, TenantID: b.TenantID, Name: b.Name, LiveName: liveName(b.Name, b.State),
		SnapshotID: b.SnapshotID, TemplateRef: b.TemplateRef,
		State: string(b.State), StatusMessage: b.StatusMessage,
		VCPUs: b.VCPUs, MemoryBytes: b.MemoryBytes, DiskBytes: b.DiskBytes,
		Env: env, Metadata: meta, OnTimeout: string(b.OnTimeout),
		Deadline: nullTime(b.Deadline), AccessToken: token, Node: b.Node,
		StartedAt: nullTime(b.StartedAt),
		CreatedAt: dbTime(b.CreatedAt), UpdatedAt: dbTime(b.UpdatedAt),
		IdleTTLSeconds: seconds(b.IdleTTL), DeleteAfterStopSeconds: seconds(b.DeleteAfterStop),
		Network: net,
	}, nil
}

func (s *Store) sandboxToCore(r *sandboxRow) (*core.Sandbox, error) {
	env, err := decodeMap(r.Env)
	if err != nil {
		return nil, fmt.Errorf("decode env of sandbox %s: %w", r.ID, err)
	}
	meta, err := decodeMap(r.Metadata)
	if err != nil {
		return nil, fmt.Errorf("decode metadata of sandbox %s: %w", r.ID, err)
	}
	var net core.NetworkPolicy
	if r.Network != "" {
		if err := json.Unmarshal([]byte(r.Network), &net); err != nil {
			return nil, fmt.Errorf("decode network policy of sandbox %s: %w", r.ID, err)
		}
	}
	token, _, err := s.sealer.Open(r.AccessToken, accessTokenAAD(r.ID))
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", r.ID, err)
	}
	return &core.Sandbox{
		ID: r.ID, TenantID: r.TenantID, Name: r.Name,
		SnapshotID: r.SnapshotID, TemplateRef: r.TemplateRef,
		State: core.SandboxState(r.State), StatusMessage: r.StatusMessage,
		VCPUs: r.VCPUs, MemoryBytes: r.MemoryBytes, DiskBytes: r.DiskBytes,
		Env: env, Metadata: meta, OnTimeout: core.TimeoutAction(r.OnTimeout),
		Deadline: coreTime(r.Deadline), AccessToken: token, Node: r.Node,
		StartedAt: coreTime(r.StartedAt),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		IdleTTL: time.Duration(r.IdleTTLSeconds) * time.Second, DeleteAfterStop: time.Duration(r.DeleteAfterStopSeconds) * time.Second,
		Network: net,
	}, nil
}

// encodeMap is m as a JSON object; nil is stored as {} like an empty map.
func encodeMap(m map[string]string) (string, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// checkMap refuses what a JSON text column cannot give back exactly on
// both databases: invalid UTF-8 (JSON replaces it) and NUL characters
// (Postgres cannot cast "\u0000" to jsonb, which the metadata filter does,
// so one such row would break filtered listings).
func checkMap(field string, m map[string]string) error {
	for k, v := range m {
		if !storable(k) {
			return core.Errorf(core.ErrInvalidArgument, "%s keys must be UTF-8 text without NUL characters", field)
		}
		if !storable(v) {
			return core.Errorf(core.ErrInvalidArgument, "%s value of %q must be UTF-8 text without NUL characters", field, k)
		}
	}
	return nil
}

// storable reports whether s survives a JSON text column unchanged.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// decodeMap reads a JSON object column; it never returns a nil map, so
// callers encode an empty object rather than null.
func decodeMap(s string) (map[string]string, error) {
	m := map[string]string{}
	if s == "" || s == "null" {
		return m, nil
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// encodeNetwork is p as JSON; the zero policy is stored as "{}".
func encodeNetwork(p core.NetworkPolicy) (string, error) {
	b, err := json.Marshal(p)
	return string(b), err
}
