package core

import (
	"context"
	"time"
)

// Store persists snapshots, API keys and registry credentials. Every method
// scoped by tenant treats another tenant's rows as absent (ErrNotFound). An
// empty tenantID means any tenant: only core's own workers pass it.
type Store interface {
	// CreateSnapshot inserts s. ErrAlreadyExists when the tenant already has
	// a snapshot of that name.
	CreateSnapshot(ctx context.Context, s *Snapshot) error
	// GetSnapshot returns the tenant's snapshot by id. ErrNotFound.
	GetSnapshot(ctx context.Context, tenantID, id string) (*Snapshot, error)
	// GetSnapshotByName returns the tenant's snapshot by name. ErrNotFound.
	GetSnapshotByName(ctx context.Context, tenantID, name string) (*Snapshot, error)
	// ListSnapshots returns the tenant's snapshots, newest first.
	ListSnapshots(ctx context.Context, tenantID string, f SnapshotFilter) ([]*Snapshot, error)
	// DeleteSnapshot removes the tenant's snapshot row. ErrNotFound.
	DeleteSnapshot(ctx context.Context, tenantID, id string) error
	// FinishSnapshot records a build's result if the snapshot is still in one
	// of the from statuses. ErrFailedPrecondition when it is not (or is gone).
	FinishSnapshot(ctx context.Context, id string, from []SnapshotStatus, r SnapshotResult) error
	// ClaimSnapshotBuild gives owner the build of a building snapshot until
	// `until`, if the claim is empty, expired at now, or already owner's.
	// Reports whether it did (false also when the snapshot is not building).
	ClaimSnapshotBuild(ctx context.Context, id, owner string, now, until time.Time) (bool, error)
	// ListClaimableBuilds returns building snapshots (all tenants) whose claim
	// is empty, expired at now, or held by owner.
	ListClaimableBuilds(ctx context.Context, owner string, now time.Time) ([]*Snapshot, error)
	// ReleaseSnapshotClaim drops owner's claim so another process may build.
	ReleaseSnapshotClaim(ctx context.Context, id, owner string) error
	// SnapshotImageRefs returns the engine image names of all snapshots.
	SnapshotImageRefs(ctx context.Context) ([]string, error)

	// CreateAPIKey stores a key (hashed). ErrAlreadyExists on a hash clash.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// GetAPIKeyByHash returns the key with that hash. ErrNotFound.
	GetAPIKeyByHash(ctx context.Context, hash string) (*APIKey, error)

	// CreateRegistry stores credentials. ErrAlreadyExists on a name clash.
	CreateRegistry(ctx context.Context, r *Registry) error
	// GetRegistry returns the tenant's registry by name or id. ErrNotFound.
	GetRegistry(ctx context.Context, tenantID, nameOrID string) (*Registry, error)
	ListRegistries(ctx context.Context, tenantID string, f RegistryFilter) ([]*Registry, error)
	// UpdateRegistry saves every field of r. ErrNotFound, ErrAlreadyExists.
	UpdateRegistry(ctx context.Context, r *Registry) error
	DeleteRegistry(ctx context.Context, tenantID, id string) error

	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}

// PullRequest asks the engine to make an image available locally under Name.
type PullRequest struct {
	Name   string // engine image name to record (one per snapshot)
	Source string // normalized image reference to pull
	Auth   *RegistryAuth
}

// RegistryAuth is a credential for one registry host.
type RegistryAuth struct {
	Host     string
	Username string
	Password string
}

// PulledImage describes an image that is present and unpacked.
type PulledImage struct {
	Digest        string // manifest digest
	UnpackedBytes int64  // size of the unpacked root filesystem
}

// Engine runs images. Implementations classify errors: a reference that does
// not exist is ErrNotFound, refused credentials ErrPermissionDenied, an
// unreachable registry ErrUnavailable, a malformed reference ErrInvalidArgument,
// each with a client-safe message.
type Engine interface {
	// NormalizeReference checks and canonicalizes an image reference
	// ("busybox" -> "docker.io/library/busybox:latest"). ErrInvalidArgument.
	NormalizeReference(ref string) (string, error)
	// Pull fetches and unpacks req.Source, recording it as req.Name.
	// Idempotent: pulling an existing name converges.
	Pull(ctx context.Context, req PullRequest) (PulledImage, error)
	// TagImage records the image `from` under a second name `to`, sharing its
	// content. ErrNotFound when `from` is gone.
	TagImage(ctx context.Context, from, to string) error
	// RemoveImage deletes an image record and, synchronously, the content and
	// snapshots nothing else references. Missing images are not an error.
	RemoveImage(ctx context.Context, name string) error
	// ListImages returns the names of images the engine holds for snapgate.
	ListImages(ctx context.Context) ([]string, error)
	Ping(ctx context.Context) error
}

// Clock is the time source, replaceable in tests.
type Clock interface{ Now() time.Time }

// SystemClock reads the real time.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now().UTC() }
