package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
)

// SnapshotsOptions configures the snapshot service.
type SnapshotsOptions struct {
	Store  Store
	Engine Engine
	Clock  Clock
	IDs    func() string
	Logger *slog.Logger
	// Owner names this process in build claims. It must be stable across
	// restarts of the same node, so a restarted node resumes its own builds
	// at once instead of waiting for its old claims to expire.
	Owner        string
	Workers      int
	BuildTimeout time.Duration
	ClaimTTL     time.Duration
	// Observer is told of finished builds, captures and pulls; nil
	// observes nothing.
	Observer Observer
	// SnapshotRegistry, when set, makes snapshots node-independent: each
	// is pushed there before it is reported ready, and a node without its
	// image pulls it from there. Nil keeps snapshots on this node only.
	SnapshotRegistry *SnapshotRegistry
	// Quotas bounds each tenant's snapshots and the bytes they hold, for
	// image snapshots and captures alike.
	Quotas Quotas
	// Fault, when set, is called at named points of a build or capture
	// (FaultBuildAfterPull, FaultCaptureBeforeRecord) so crash tests can
	// kill the process there. Nil does nothing.
	Fault func(point string)
}

// Fault points core reaches; crash tests stop the process at one of them.
const (
	FaultBuildAfterPull        = "build.after-pull"
	FaultCaptureBeforeRecord   = "capture.before-record"
	FaultSandboxAfterContainer = "sandbox.after-container"
)

// Snapshots is the snapshot service: validation, naming, tenancy, the
// asynchronous build of image snapshots and the record of captures (the
// snapshot half of Sandboxes.Capture).
type Snapshots struct {
	opt      SnapshotsOptions
	jobs     chan string
	mu       sync.Mutex
	inflight map[string]bool
	pulls    flightGroup
}

// NewSnapshots returns a service; call Run to start its build workers.
func NewSnapshots(opt SnapshotsOptions) (*Snapshots, error) {
	if opt.Store == nil || opt.Engine == nil {
		return nil, errors.New("snapshots: store and engine are required")
	}
	if opt.Clock == nil {
		opt.Clock = SystemClock{}
	}
	if opt.IDs == nil {
		opt.IDs = func() string { return uuid.NewString() }
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Owner == "" {
		return nil, errors.New("snapshots: owner is required")
	}
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	if opt.BuildTimeout <= 0 {
		opt.BuildTimeout = 15 * time.Minute
	}
	if opt.ClaimTTL <= 0 {
		opt.ClaimTTL = 2 * time.Minute
	}
	if opt.Observer == nil {
		opt.Observer = nopObserver{}
	}
	if opt.Fault == nil {
		opt.Fault = func(string) {}
	}
	return &Snapshots{opt: opt, jobs: make(chan string, 1024), inflight: map[string]bool{}}, nil
}

// CreateSnapshotRequest asks for a snapshot built from an image.
type CreateSnapshotRequest struct {
	Name            string
	DockerImage     string
	FSCapacityBytes int64
	RegistryID      string
	// Tag the snapshot holds; "" means DefaultTag.
	Tag         string
	Description string
	Labels      map[string]string
}

// ImageRefFor is the engine image name of a snapshot.
func ImageRefFor(snapshotID string) string { return "snapgate/snapshots/" + snapshotID }

// Create records a building snapshot and queues its build. It returns at
// once. ErrInvalidArgument, ErrAlreadyExists, ErrResourceExhausted (quota).
func (s *Snapshots) Create(ctx context.Context, req CreateSnapshotRequest) (*Snapshot, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := ValidateName("name", req.Name); err != nil {
		return nil, err
	}
	if req.FSCapacityBytes <= 0 {
		return nil, Errorf(ErrInvalidArgument, "fs_capacity_bytes must be a positive number of bytes, got %d", req.FSCapacityBytes)
	}
	if req.Tag == "" {
		req.Tag = DefaultTag
	}
	if err := validateSnapshotAttrs(req.Tag, req.Description, req.Labels); err != nil {
		return nil, err
	}
	source, err := s.opt.Engine.NormalizeReference(req.DockerImage)
	if err != nil {
		return nil, err
	}
	if req.RegistryID != "" {
		reg, err := s.opt.Store.GetRegistry(ctx, p.TenantID, req.RegistryID)
		if errors.Is(err, ErrNotFound) {
			return nil, Errorf(ErrInvalidArgument, "registry_id %q does not name a registry of this tenant", req.RegistryID)
		}
		if err != nil {
			return nil, fmt.Errorf("look up registry %s: %w", req.RegistryID, err)
		}
		req.RegistryID = reg.ID
	}
	// Names are unique whatever their tag: a name an E2B build holds is
	// taken for LangSmith too.
	if _, err := s.opt.Store.GetSnapshotByName(ctx, p.TenantID, req.Name, ""); err == nil {
		return nil, Errorf(ErrAlreadyExists, "a snapshot named %q already exists", req.Name)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("check snapshot name %s: %w", req.Name, err)
	}
	now := s.opt.Clock.Now()
	id := s.opt.IDs()
	snap := &Snapshot{
		ID: id, TenantID: p.TenantID, Name: req.Name, Tag: req.Tag, Status: SnapshotBuilding,
		DockerImage: source, RegistryID: req.RegistryID, ImageRef: ImageRefFor(id),
		FSCapacityBytes: req.FSCapacityBytes, CreatedBy: p.KeyID, CreatedAt: now, UpdatedAt: now,
		Description: req.Description, Labels: req.Labels,
	}
	if err := s.insertSnapshot(ctx, snap, false); err != nil {
		if errors.Is(err, ErrAlreadyExists) {
			return nil, Errorf(ErrAlreadyExists, "a snapshot named %q already exists", req.Name)
		}
		return nil, fmt.Errorf("create snapshot %s: %w", req.Name, err)
	}
	s.opt.Logger.InfoContext(ctx, "snapshot build queued", "snapshot_id", id, "tenant", p.TenantID, "image", source)
	s.enqueue(id)
	return snap, nil
}

// Get returns the caller's snapshot by id or by name. ErrNotFound.
func (s *Snapshots) Get(ctx context.Context, ref string) (*Snapshot, error) {
	return s.Lookup(ctx, ref)
}

// List returns a page of the caller's snapshots. ErrInvalidArgument.
func (s *Snapshots) List(ctx context.Context, f SnapshotFilter) ([]*Snapshot, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	if f.Limit, err = pageLimit(f.Limit); err != nil {
		return nil, err
	}
	if f.Offset < 0 {
		return nil, Errorf(ErrInvalidArgument, "offset must be >= 0, got %d", f.Offset)
	}
	return s.opt.Store.ListSnapshots(ctx, p.TenantID, f)
}

// Delete removes the caller's snapshot and the engine content only it used.
// A build still running notices at its end and removes what it pulled.
// ErrNotFound.
func (s *Snapshots) Delete(ctx context.Context, ref string) error {
	snap, err := s.Get(ctx, ref)
	if err != nil {
		return err
	}
	if err := s.opt.Store.DeleteSnapshot(ctx, snap.TenantID, snap.ID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Errorf(ErrNotFound, "snapshot %q not found", ref)
		}
		return fmt.Errorf("delete snapshot %s: %w", snap.ID, err)
	}
	// The row is gone, so the image is garbage either way; a failure here is
	// retried by the reconciler, not reported to a client whose delete worked.
	if err := s.opt.Engine.RemoveImage(ctx, snap.ImageRef); err != nil {
		s.opt.Logger.WarnContext(ctx, "remove snapshot image", "snapshot_id", snap.ID, "err", err)
	}
	s.unpublish(ctx, snap)
	s.opt.Logger.InfoContext(ctx, "snapshot deleted", "snapshot_id", snap.ID, "tenant", snap.TenantID)
	return nil
}
