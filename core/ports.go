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
	// a snapshot of that name and tag.
	CreateSnapshot(ctx context.Context, s *Snapshot) error
	// CreateSnapshotRetag inserts s, first taking s.Tag away from the
	// tenant's snapshot that holds s.Name:s.Tag, if any, in one transaction
	// (E2B: a repeated name is a new build of the same template).
	CreateSnapshotRetag(ctx context.Context, s *Snapshot) error
	// CreateSnapshotWithin is CreateSnapshot (CreateSnapshotRetag when
	// retag), but first counts the tenant's snapshots and StorageBytes
	// (see Usage) and calls admit with them, in the transaction that
	// inserts and serialized with the tenant's other counted snapshot
	// inserts. An error from admit is returned as it is and nothing is
	// inserted. ErrAlreadyExists as the plain methods.
	CreateSnapshotWithin(ctx context.Context, s *Snapshot, retag bool, admit func(Usage) error) error
	// GetSnapshot returns the tenant's snapshot by id. ErrNotFound.
	GetSnapshot(ctx context.Context, tenantID, id string) (*Snapshot, error)
	// GetSnapshotByName returns the tenant's snapshot by name and tag; an
	// empty tag means the newest snapshot of that name. ErrNotFound.
	GetSnapshotByName(ctx context.Context, tenantID, name, tag string) (*Snapshot, error)
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

	// CreateSandbox inserts s. ErrAlreadyExists when a live sandbox of the
	// tenant has the same name.
	CreateSandbox(ctx context.Context, s *Sandbox) error
	// CreateSandboxWithin is CreateSandbox, but first counts the tenant's
	// live sandboxes (Usage.Sandboxes) and calls admit with them, in the
	// transaction that inserts and serialized with the tenant's other
	// counted sandbox inserts. An error from admit is returned as it is
	// and nothing is inserted.
	CreateSandboxWithin(ctx context.Context, s *Sandbox, admit func(Usage) error) error
	// GetSandbox returns the tenant's sandbox by id, in any state. ErrNotFound.
	GetSandbox(ctx context.Context, tenantID, id string) (*Sandbox, error)
	// GetSandboxByName returns the tenant's live sandbox of that name. ErrNotFound.
	GetSandboxByName(ctx context.Context, tenantID, name string) (*Sandbox, error)
	// ListSandboxes returns the tenant's sandboxes, newest first.
	ListSandboxes(ctx context.Context, tenantID string, f SandboxFilter) ([]*Sandbox, error)
	// TransitionSandbox sets state `to` (and the change) if the sandbox is in
	// one of `from`. ErrFailedPrecondition (a *TransitionError) otherwise.
	TransitionSandbox(ctx context.Context, id string, from []SandboxState, to SandboxState, ch SandboxChange) error
	// UpdateSandbox saves name, deadline, on-timeout action and metadata of a
	// live sandbox. ErrNotFound, ErrAlreadyExists (name taken).
	UpdateSandbox(ctx context.Context, s *Sandbox) error
	// ListExpiredSandboxes returns live sandboxes (all tenants) of node whose
	// deadline is before now.
	ListExpiredSandboxes(ctx context.Context, node string, now time.Time) ([]*Sandbox, error)
	// ListNodeSandboxes returns the live sandboxes (all tenants) of node.
	ListNodeSandboxes(ctx context.Context, node string) ([]*Sandbox, error)
	// CountSnapshotUsers returns how many live sandboxes were started from snapshotID.
	CountSnapshotUsers(ctx context.Context, snapshotID string) (int, error)
	// CountNodeSandboxes returns how many live sandboxes (all tenants) node
	// holds per state; states without any are absent.
	CountNodeSandboxes(ctx context.Context, node string) (map[SandboxState]int, error)

	// UpsertNode records n (address, capacity and heartbeat time), inserting
	// it on its first heartbeat.
	UpsertNode(ctx context.Context, n *Node) error
	// GetNode returns the node of that name. ErrNotFound.
	GetNode(ctx context.Context, name string) (*Node, error)
	// ListNodes returns every node that ever heartbeated, by name, each with
	// the vCPUs and memory its live sandboxes (all tenants) hold.
	ListNodes(ctx context.Context) ([]*Node, error)

	// PutServiceGrant records g, the grant of its sandbox's port, unless
	// that port already has one: then the existing grant is kept (its id,
	// so tokens minted from it stay valid) and its ExpiresAt moves to the
	// later of the two. g is filled with the stored grant either way.
	PutServiceGrant(ctx context.Context, g *ServiceGrant) error
	// GetServiceGrant returns a grant by id, of any tenant. ErrNotFound.
	GetServiceGrant(ctx context.Context, id string) (*ServiceGrant, error)
	// ListServiceGrants returns the tenant's grants of one sandbox by port.
	ListServiceGrants(ctx context.Context, tenantID, sandboxID string) ([]*ServiceGrant, error)
	// DeleteServiceGrants removes the tenant's grant of one port of a
	// sandbox, or of every port when port is 0. Removing none is no error.
	DeleteServiceGrants(ctx context.Context, tenantID, sandboxID string, port int) error

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
	// PushImage copies the image `name` (its manifest for this host's
	// platform, config and layers) to the registry reference ref
	// ("host/repo:tag"); blobs the registry holds are not sent again.
	// ErrNotFound (name, or the registry's repository), ErrPermissionDenied,
	// ErrUnavailable, ErrInvalidArgument (ref).
	PushImage(ctx context.Context, name, ref string, auth *RegistryAuth) (PushedImage, error)
	// DeleteRemoteImage deletes the manifest ref ("host/repo@digest") from
	// its registry; one already gone is success. ErrPermissionDenied (many
	// registries refuse deletes), ErrUnavailable, ErrInvalidArgument (no
	// digest).
	DeleteRemoteImage(ctx context.Context, ref string, auth *RegistryAuth) error
	Ping(ctx context.Context) error
}

// PushedImage describes an image copied to a registry.
type PushedImage struct {
	Digest string // manifest digest, the same as the local image's
	Bytes  int64  // bytes uploaded: blobs the registry already had count 0
}

// SandboxSpec is what the engine needs to start a sandbox.
type SandboxSpec struct {
	ID          string // container id; the engine's names derive from it
	Image       string // engine image name (a snapshot's ImageRef)
	VCPUs       int
	MemoryBytes int64
	Env         map[string]string
	Hostname    string
	// DiskBytes bounds what the sandbox can write (its file system's
	// size); 0 leaves it unbounded.
	DiskBytes int64
	// Network is the egress policy the engine enforces from the start.
	Network NetworkPolicy
}

// RuntimeState is what the engine sees of a sandbox's task.
type RuntimeState string

const (
	RuntimeRunning RuntimeState = "running"
	RuntimePaused  RuntimeState = "paused"
	RuntimeStopped RuntimeState = "stopped" // container exists, task not running
	RuntimeMissing RuntimeState = "missing" // no container
)

// CaptureRequest asks the engine to record a running sandbox's filesystem
// as a new image named Name (the new snapshot's ImageRef).
type CaptureRequest struct {
	SandboxID string
	Name      string
	// Memory asks for memory state too; only where MemorySnapshots is true.
	Memory bool
}

// CapturedImage describes a captured image.
type CapturedImage struct {
	Digest        string // manifest digest
	UnpackedBytes int64  // size of the whole root filesystem
	MemoryBytes   *int64 // size of memory state, when captured
}

// Sandboxes is the part of the engine that runs containers.
type SandboxEngine interface {
	// StartSandbox creates the container and starts its task. Idempotent by
	// spec.ID: an existing running sandbox is success.
	StartSandbox(ctx context.Context, spec SandboxSpec) error
	// ReserveWarm returns the id of a sandbox the engine started ahead of
	// demand from image with a disk of diskBytes, or "" when it has none.
	// The caller passes that id to StartSandbox, which adopts it, or to
	// KillSandbox.
	ReserveWarm(ctx context.Context, image string, diskBytes int64) string
	// SetSandboxNetwork replaces the egress policy of a live sandbox; it
	// applies to new connections at once. ErrNotFound.
	SetSandboxNetwork(ctx context.Context, id string, p NetworkPolicy) error
	// PauseSandbox freezes the task; ResumeSandbox thaws it.
	PauseSandbox(ctx context.Context, id string) error
	ResumeSandbox(ctx context.Context, id string) error
	// KillSandbox kills the task and removes container and writable layer.
	// A missing sandbox is success.
	KillSandbox(ctx context.Context, id string) error
	// SandboxState reports the task's state (RuntimeMissing when absent).
	SandboxState(ctx context.Context, id string) (RuntimeState, error)
	// ListSandboxContainers returns the ids of every sandbox container.
	ListSandboxContainers(ctx context.Context) ([]string, error)
	// CaptureSandbox records the sandbox's root filesystem (its snapshot's
	// layers plus one with what changed) as a new image. The sandbox is
	// frozen only while its changes are copied and keeps running after.
	CaptureSandbox(ctx context.Context, req CaptureRequest) (CapturedImage, error)
	// MemorySnapshots reports whether this host can capture memory (CRIU).
	MemorySnapshots() bool
	// SandboxStats reads a sandbox's resource usage now. ErrNotFound (no
	// container), ErrFailedPrecondition (no task).
	SandboxStats(ctx context.Context, id string) (SandboxStats, error)
}

// SandboxStats is one reading of a sandbox's resource usage. CPU time is
// cumulative: core turns the difference of two readings into a percentage.
type SandboxStats struct {
	CPUTime     time.Duration // CPU time used by the sandbox's processes since its task started
	MemoryUsed  int64         // bytes charged, less reclaimable (inactive) file cache
	MemoryCache int64         // bytes of page cache charged
	MemoryLimit int64         // bytes the sandbox may use
	DiskUsed    int64         // bytes used on the sandbox's disk (or its writable layer)
	DiskTotal   int64         // the disk's size; 0 when the sandbox's writes are unbounded
}

// Clock is the time source, replaceable in tests.
type Clock interface{ Now() time.Time }

// SystemClock reads the real time.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now().UTC() }

// Sealer encrypts secrets that must be usable again (registry passwords,
// sandbox access tokens) so the database never holds them in clear; the
// store applies it to those columns as rows are written and read.
// Implemented by core/secrets.
//
// aad names the value's place (table, column and row id): a value sealed
// for one row does not open for another, so someone who can write the
// database cannot move a secret where it will be revealed.
type Sealer interface {
	// Seal returns the stored form of plaintext.
	Seal(plaintext, aad string) (string, error)
	// Open returns the plaintext of a stored value. stale reports a value
	// that should be sealed again: clear text written before sealing, or
	// sealed with a key that is no longer the current one. An error means
	// the value cannot be opened with the configured keys.
	Open(stored, aad string) (plaintext string, stale bool, err error)
}
