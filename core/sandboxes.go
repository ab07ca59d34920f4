package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// SandboxesOptions configures the sandbox service.
type SandboxesOptions struct {
	Store     Store
	Engine    SandboxEngine
	Snapshots *Snapshots
	Clock     Clock
	Logger    *slog.Logger
	// Node names this process; sandboxes it starts are recorded as its.
	Node string
	// DefaultImage backs the "base" snapshot used when a client names none.
	DefaultImage string
	// DefaultFSCapacity is the capacity of the base snapshot.
	DefaultFSCapacity int64
	MaxVCPUs          int
	DefaultVCPUs      int
	DefaultMemory     int64
	StartTimeout      time.Duration
	// Quotas bounds each tenant's live sandboxes (Quotas.Sandboxes).
	Quotas Quotas
	// ReconcileInterval is how often live sandboxes are checked against
	// the engine (Run). Default 30 s.
	ReconcileInterval time.Duration
	// Fault, when set, is called at FaultSandboxAfterContainer so crash
	// tests can kill the process there. Nil does nothing.
	Fault func(point string)
	// Nodes, when set, refuses a sandbox this node has no room for
	// (ErrResourceExhausted).
	Nodes *Nodes
	// Cluster: other nodes share the store and a snapshot registry, so
	// creates are placed across them and calls about a sandbox are
	// answered by the node that holds it (Where, *ElsewhereError). Needs
	// Nodes. Without a snapshot registry a snapshot lives on one node only,
	// so there is no cluster to place in.
	Cluster bool
}

// Sandboxes is the sandbox service: start from snapshots, pause, resume,
// timeouts, kill, and capture of running sandboxes into new snapshots.
type Sandboxes struct {
	opt SandboxesOptions
	// creating holds the ids of sandboxes this process is starting: a
	// starting row not in it was left by a process that died (Reconcile).
	mu       sync.Mutex
	creating map[string]bool
	frozen   map[string]bool // running sandboxes found frozen last pass
}

// The size of a sandbox whose request names none. cmd also sizes tenants'
// default quotas in sandboxes of this size.
const (
	DefaultSandboxVCPUs  = 1
	DefaultSandboxMemory = 512 << 20
)

// DefaultSnapshotName is the snapshot used when a client asks for none
// (E2B's template "base", LangSmith's default snapshot).
const DefaultSnapshotName = "base"

// NewSandboxes returns the service; call Run to start its reaper.
func NewSandboxes(opt SandboxesOptions) (*Sandboxes, error) {
	if opt.Store == nil || opt.Engine == nil || opt.Snapshots == nil || opt.Node == "" {
		return nil, errors.New("sandboxes: store, engine, snapshots and node are required")
	}
	if opt.Cluster && opt.Nodes == nil {
		return nil, errors.New("sandboxes: a cluster needs nodes")
	}
	if opt.Clock == nil {
		opt.Clock = SystemClock{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.MaxVCPUs <= 0 {
		opt.MaxVCPUs = 8
	}
	if opt.DefaultVCPUs <= 0 {
		opt.DefaultVCPUs = DefaultSandboxVCPUs
	}
	if opt.DefaultMemory <= 0 {
		opt.DefaultMemory = DefaultSandboxMemory
	}
	if opt.DefaultFSCapacity <= 0 {
		opt.DefaultFSCapacity = 8 << 30
	}
	if opt.StartTimeout <= 0 {
		opt.StartTimeout = 60 * time.Second
	}
	if opt.Fault == nil {
		opt.Fault = func(string) {}
	}
	if opt.ReconcileInterval <= 0 {
		opt.ReconcileInterval = 30 * time.Second
	}
	return &Sandboxes{opt: opt, creating: map[string]bool{}, frozen: map[string]bool{}}, nil
}

// CreateSandboxRequest asks for a sandbox. Exactly one way of naming the
// snapshot may be used; none means the default snapshot.
type CreateSandboxRequest struct {
	SnapshotRef string // id, name, name:tag or namespace/name:tag
	Name        string // optional; defaults to the sandbox id
	VCPUs       int
	MemoryBytes int64
	Env         map[string]string
	Metadata    map[string]string
	// DiskBytes bounds what the sandbox can write; 0 means the snapshot's
	// fs capacity, which is also the least a sandbox may ask for.
	DiskBytes int64
	Timeout   time.Duration // 0: no deadline
	OnTimeout TimeoutAction
	// IdleTTL and DeleteAfterStop are Sandbox's; an IdleTTL takes the
	// place of Timeout and OnTimeout.
	IdleTTL         time.Duration
	DeleteAfterStop time.Duration
	// WaitForSnapshot bounds how long to wait for a snapshot still
	// building; 0 means 30 seconds.
	WaitForSnapshot time.Duration
	// Network is the sandbox's egress policy and port access, checked
	// with ParseNetworkPolicy by the adapter (its field names).
	Network NetworkPolicy
}

// Create starts a sandbox on this node and returns it running; in a
// cluster, an *ElsewhereError when placement chose another node (nothing
// is recorded here then). ErrInvalidArgument, ErrNotFound (snapshot), ErrFailedPrecondition
// (snapshot failed or not ready), ErrAlreadyExists (name),
// ErrResourceExhausted (sandbox quota, or no room on this node),
// ErrUnavailable (engine).
func (s *Sandboxes) Create(ctx context.Context, req CreateSandboxRequest) (*Sandbox, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	sb, err := s.newSandbox(p, req)
	if err != nil {
		return nil, err
	}
	if err := s.precheckQuota(ctx, p.TenantID); err != nil {
		return nil, err
	}
	if err := s.place(ctx, sb); err != nil {
		return nil, err
	}
	if s.opt.Nodes != nil {
		if err := s.opt.Nodes.Admit(ctx, sb.VCPUs, sb.MemoryBytes); err != nil {
			return nil, err
		}
	}
	snap, err := s.resolveSnapshot(ctx, req.SnapshotRef, req.WaitForSnapshot)
	if err != nil {
		return nil, err
	}
	sb.SnapshotID = snap.ID
	if sb.DiskBytes, err = diskFor(req.DiskBytes, snap); err != nil {
		return nil, err
	}
	warm := s.takeWarm(ctx, sb, snap.ImageRef)
	defer s.startCreating(sb.ID)()
	if err := s.insertSandbox(ctx, sb); err != nil {
		if warm {
			s.releaseWarm(ctx, sb.ID)
		}
		return nil, fmt.Errorf("record sandbox: %w", err)
	}
	// The start outlives a client that hangs up: a half-started sandbox
	// must end running or failed, never stay starting.
	spec := SandboxSpec{ID: sb.ID, Image: snap.ImageRef, VCPUs: sb.VCPUs, MemoryBytes: sb.MemoryBytes,
		Env: sb.Env, Hostname: sb.ID, DiskBytes: sb.DiskBytes, Network: sb.Network}
	sctx, cancel, err := s.startFrom(ctx, spec, snap)
	defer cancel()
	if err != nil {
		s.fail(sctx, sb, "sandbox failed to start: "+PublicMessage(err))
		return nil, startError(snap, err)
	}
	s.opt.Fault(FaultSandboxAfterContainer)
	now := s.opt.Clock.Now()
	if err := transitionSandbox(sctx, s.opt.Store, sb.ID, []SandboxState{SandboxStarting}, SandboxRunning, SandboxChange{StartedAt: &now}); err != nil {
		// Killed while starting: make sure nothing keeps running.
		_ = s.opt.Engine.KillSandbox(sctx, sb.ID)
		return nil, Errorf(ErrFailedPrecondition, "sandbox %s was killed while starting", sb.ID)
	}
	sb.State, sb.StartedAt = SandboxRunning, now
	s.opt.Logger.InfoContext(ctx, "sandbox started", "sandbox_id", sb.ID, "snapshot_id", snap.ID, "tenant", p.TenantID)
	return sb, nil
}

// startError is what a failed start answers: the server out of room for it
// (disk, user id ranges) stays ErrResourceExhausted, as when no node has
// room; anything else the engine said is the server failing to start it.
func startError(snap *Snapshot, err error) error {
	kind := ErrUnavailable
	if KindOf(err) == ErrResourceExhausted {
		kind = ErrResourceExhausted
	}
	return WithCause(kind, err, "sandbox failed to start from snapshot %s: %s", snap.ID, PublicMessage(err))
}

// startCreating marks id as being started by this process until the
// returned func is called.
func (s *Sandboxes) startCreating(id string) (done func()) {
	s.mu.Lock()
	s.creating[id] = true
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.creating, id)
		s.mu.Unlock()
	}
}

func (s *Sandboxes) isCreating(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creating[id]
}

// takeWarm gives sb the id of a sandbox the engine started ahead of demand
// for image, if it has one (reported): StartSandbox then adopts it (sets
// limits and env) instead of creating a container and task.
func (s *Sandboxes) takeWarm(ctx context.Context, sb *Sandbox, image string) bool {
	id := s.opt.Engine.ReserveWarm(ctx, image, sb.DiskBytes)
	if id == "" {
		return false
	}
	if sb.Name == sb.ID {
		sb.Name = id
	}
	sb.ID = id
	return true
}

// releaseWarm gives back a reserved warm sandbox that will not be used.
func (s *Sandboxes) releaseWarm(ctx context.Context, id string) {
	if err := s.opt.Engine.KillSandbox(context.WithoutCancel(ctx), id); err != nil {
		s.opt.Logger.WarnContext(ctx, "release warm sandbox", "sandbox_id", id, "err", err)
	}
}

// diskFor is the disk size of a sandbox asking for req bytes (0: the
// default) from snap: never less than the snapshot's fs capacity, which
// its build checked the image fits in.
func diskFor(req int64, snap *Snapshot) (int64, error) {
	switch {
	case req == 0:
		return snap.FSCapacityBytes, nil
	case req < 0:
		return 0, Errorf(ErrInvalidArgument, "fs_capacity_bytes must be a positive number of bytes, got %d", req)
	case req < snap.FSCapacityBytes:
		return 0, Errorf(ErrInvalidArgument,
			"fs_capacity_bytes %d is smaller than the snapshot's %d: a sandbox's disk cannot be smaller than its snapshot's", req, snap.FSCapacityBytes)
	}
	return req, nil
}

func (s *Sandboxes) newSandbox(p Principal, req CreateSandboxRequest) (*Sandbox, error) {
	vcpus, mem := req.VCPUs, req.MemoryBytes
	if vcpus == 0 {
		vcpus = s.opt.DefaultVCPUs
	}
	if mem == 0 {
		mem = s.opt.DefaultMemory
	}
	switch {
	case vcpus < 1 || vcpus > s.opt.MaxVCPUs:
		return nil, Errorf(ErrInvalidArgument, "vcpus must be between 1 and %d, got %d", s.opt.MaxVCPUs, vcpus)
	case mem < 64<<20:
		return nil, Errorf(ErrInvalidArgument, "memory must be at least 64 MiB, got %d bytes", mem)
	case req.Timeout < 0 || req.IdleTTL < 0 || req.DeleteAfterStop < 0:
		return nil, Errorf(ErrInvalidArgument, "timeout, idle TTL and delete-after-stop must not be negative")
	}
	if req.IdleTTL > 0 {
		req.Timeout, req.OnTimeout = req.IdleTTL, TimeoutPause
	}
	if req.OnTimeout == "" {
		req.OnTimeout = TimeoutKill
	}
	if req.OnTimeout != TimeoutKill && req.OnTimeout != TimeoutPause {
		return nil, Errorf(ErrInvalidArgument, "on-timeout action must be kill or pause, got %q", req.OnTimeout)
	}
	id, err := NewSandboxID()
	if err != nil {
		return nil, err
	}
	token, err := newAccessToken()
	if err != nil {
		return nil, err
	}
	name := req.Name
	if name == "" {
		name = id
	} else if err := ValidateName("name", name); err != nil {
		return nil, err
	}
	if err := ValidateMetadata("metadata", req.Metadata); err != nil {
		return nil, err
	}
	if err := ValidateEnv("env", req.Env); err != nil {
		return nil, err
	}
	now := s.opt.Clock.Now()
	sb := &Sandbox{
		ID: id, TenantID: p.TenantID, Name: name, TemplateRef: req.SnapshotRef, State: SandboxStarting,
		VCPUs: vcpus, MemoryBytes: mem, Env: req.Env, Metadata: req.Metadata, OnTimeout: req.OnTimeout,
		AccessToken: token, Node: s.opt.Node, CreatedAt: now, UpdatedAt: now,
		IdleTTL: req.IdleTTL, DeleteAfterStop: req.DeleteAfterStop, Network: req.Network,
	}
	if req.Timeout > 0 {
		sb.Deadline = now.Add(req.Timeout)
	}
	return sb, nil
}

// fail records a start failure and removes whatever the engine made.
func (s *Sandboxes) fail(ctx context.Context, sb *Sandbox, msg string) {
	if err := s.opt.Engine.KillSandbox(ctx, sb.ID); err != nil {
		s.opt.Logger.WarnContext(ctx, "clean up failed sandbox", "sandbox_id", sb.ID, "err", err)
	}
	if err := transitionSandbox(ctx, s.opt.Store, sb.ID, SandboxPredecessors(SandboxFailed), SandboxFailed, SandboxChange{StatusMessage: &msg}); err != nil {
		s.opt.Logger.WarnContext(ctx, "record sandbox failure", "sandbox_id", sb.ID, "err", err)
	}
	s.opt.Logger.WarnContext(ctx, "sandbox failed", "sandbox_id", sb.ID, "status_message", msg)
}
