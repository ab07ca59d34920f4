package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// CaptureSnapshotRequest asks for a snapshot of a running sandbox.
type CaptureSnapshotRequest struct {
	// Name of the new snapshot; empty gives an unnamed snapshot (its name
	// is its id). With Namespaced, a "namespace/" prefix must be the tenant.
	Name       string
	Namespaced bool
	// Tag the new snapshot holds; with Retag a snapshot already holding
	// Name:Tag loses the tag to the new one (E2B: a repeated name is a new
	// build), without it an existing name is ErrAlreadyExists (LangSmith).
	Tag             string
	Retag           bool
	Memory          bool
	FSCapacityBytes int64
	Description     string
	Labels          map[string]string
}

// Capture snapshots a sandbox's filesystem (and memory, where the host can)
// into a new snapshot, ready when this returns. The sandbox keeps running.
// ErrNotFound, ErrInvalidArgument, ErrAlreadyExists, ErrFailedPrecondition
// (not running, or memory asked on a host without CRIU), ErrResourceExhausted
// (snapshot quota).
func (s *Sandboxes) Capture(ctx context.Context, ref string, req CaptureSnapshotRequest) (*Snapshot, error) {
	sb, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if sb.State != SandboxRunning && sb.State != SandboxPaused {
		return nil, Errorf(ErrFailedPrecondition, "sandbox %s is %s; only running or paused sandboxes can be captured", sb.ID, sb.State)
	}
	if err := validateSnapshotAttrs(req.Tag, req.Description, req.Labels); err != nil {
		return nil, err
	}
	if req.Memory && !s.opt.Engine.MemorySnapshots() {
		return nil, Errorf(ErrFailedPrecondition, "this host cannot capture memory state (CRIU is unavailable); capture without memory to get a filesystem snapshot")
	}
	src, err := s.opt.Store.GetSnapshot(ctx, sb.TenantID, sb.SnapshotID)
	if err != nil {
		return nil, fmt.Errorf("load source snapshot %s: %w", sb.SnapshotID, err)
	}
	snap, err := s.captureRow(ctx, sb, src, req)
	if err != nil {
		return nil, err
	}
	snaps := s.opt.Snapshots
	defer snaps.done(snap.ID)
	// The capture outlives a client that hangs up; its result is recorded.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), snaps.opt.BuildTimeout)
	defer cancel()
	img, cerr := s.opt.Engine.CaptureSandbox(cctx, CaptureRequest{SandboxID: sb.ID, Name: snap.ImageRef, Memory: req.Memory})
	if cerr == nil {
		snap.RegistryRef, cerr = snaps.publish(cctx, snap)
	}
	if cerr == nil {
		snaps.opt.Fault(FaultCaptureBeforeRecord)
	}
	result := SnapshotResult{Status: SnapshotReady, ImageDigest: img.Digest, FSUsedBytes: img.UnpackedBytes, MemoryBytes: img.MemoryBytes, RegistryRef: snap.RegistryRef}
	if cerr != nil {
		result = SnapshotResult{Status: SnapshotFailed, StatusMessage: "capture of sandbox " + sb.ID + " failed: " + PublicMessage(cerr)}
		snaps.removeImage(cctx, snap.ImageRef)
	}
	if err := s.opt.Store.FinishSnapshot(cctx, snap.ID, SnapshotPredecessors(result.Status), result); err != nil {
		snaps.removeImage(cctx, snap.ImageRef)
		snaps.unpublish(cctx, snap)
		snaps.opt.Observer.CaptureFinished(SnapshotFailed)
		return nil, fmt.Errorf("record capture %s: %w", snap.ID, err)
	}
	snaps.opt.Observer.CaptureFinished(result.Status)
	if cerr != nil {
		s.opt.Logger.WarnContext(ctx, "capture failed", "sandbox_id", sb.ID, "snapshot_id", snap.ID, "err", cerr)
		if KindOf(cerr) == ErrNotFound {
			return nil, Errorf(ErrNotFound, "sandbox %q not found", ref)
		}
		return nil, WithCause(ErrUnavailable, cerr, "%s", result.StatusMessage)
	}
	s.opt.Logger.InfoContext(ctx, "sandbox captured", "sandbox_id", sb.ID, "snapshot_id", snap.ID, "digest", img.Digest)
	return s.opt.Store.GetSnapshot(cctx, sb.TenantID, snap.ID)
}

// captureRow records the new snapshot, building and claimed by this
// process (and marked in flight so the build poller leaves it alone).
func (s *Sandboxes) captureRow(ctx context.Context, sb *Sandbox, src *Snapshot, req CaptureSnapshotRequest) (*Snapshot, error) {
	snaps := s.opt.Snapshots
	name, err := captureName(sb.TenantID, req)
	if err != nil {
		return nil, err
	}
	now := s.opt.Clock.Now()
	id := snaps.opt.IDs()
	if name == "" {
		name = id
	}
	capacity := req.FSCapacityBytes
	if capacity <= 0 {
		capacity = src.FSCapacityBytes
	}
	snap := &Snapshot{
		ID: id, TenantID: sb.TenantID, Name: name, Tag: req.Tag, Status: SnapshotBuilding,
		DockerImage: src.DockerImage, RegistryID: src.RegistryID, ImageRef: ImageRefFor(id),
		FSCapacityBytes: capacity, SourceSandboxID: sb.ID, CreatedAt: now, UpdatedAt: now,
		Description: req.Description, Labels: req.Labels,
		ClaimOwner: snaps.opt.Owner, ClaimExpires: now.Add(snaps.opt.BuildTimeout + time.Minute),
	}
	if p, err := PrincipalFrom(ctx); err == nil {
		snap.CreatedBy = p.KeyID
	}
	snaps.mu.Lock()
	snaps.inflight[id] = true
	snaps.mu.Unlock()
	if req.Retag {
		err = snaps.insertSnapshot(ctx, snap, true)
	} else if _, gerr := s.opt.Store.GetSnapshotByName(ctx, sb.TenantID, name, ""); gerr == nil {
		err = Errorf(ErrAlreadyExists, "a snapshot named %q already exists", name)
	} else {
		err = snaps.insertSnapshot(ctx, snap, false)
	}
	if err != nil {
		snaps.done(id)
		if errors.Is(err, ErrAlreadyExists) {
			return nil, Errorf(ErrAlreadyExists, "a snapshot named %q already exists", name)
		}
		return nil, fmt.Errorf("record capture of %s: %w", sb.ID, err)
	}
	return snap, nil
}

func captureName(tenant string, req CaptureSnapshotRequest) (string, error) {
	// Not normalized: a name that is not valid as sent is refused, never
	// quietly stored as another (E2B's adapter lowercases its own names).
	name := req.Name
	if name == "" {
		return "", nil
	}
	if req.Namespaced {
		if ns, rest, ok := strings.Cut(name, "/"); ok {
			if ns != strings.ToLower(tenant) {
				return "", Errorf(ErrInvalidArgument, "name %q: namespace %q is not your team's namespace %q", req.Name, ns, strings.ToLower(tenant))
			}
			name = rest
		}
	}
	if err := ValidateName("name", name); err != nil {
		return "", err
	}
	return name, nil
}
