package core

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// CaptureSnapshotRequest asks for a snapshot of a running sandbox.
type CaptureSnapshotRequest struct {
	// Name of the new snapshot; empty gives an unnamed snapshot (its name
	// is its id). With Namespaced (E2B), Name is a reference as E2B writes
	// one, [namespace/]name[:tag] read by ParseSnapshotRef: the namespace,
	// if any, must be the tenant's, and a tag there replaces Tag.
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
// (not running, memory asked on a host without CRIU, or changes too large
// for a layer), ErrResourceExhausted (snapshot quota, the server's space),
// ErrUnavailable (the engine or the snapshot registry failed).
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
	return s.opt.Snapshots.capture(ctx, ref, sb, src, req, func(ctx context.Context, image string) (CapturedImage, error) {
		return s.opt.Engine.CaptureSandbox(ctx, CaptureRequest{SandboxID: sb.ID, Name: image, Memory: req.Memory})
	})
}

// capture is the snapshot service's half of Sandboxes.Capture: it records
// the new snapshot, calls run to capture sb into the snapshot's image,
// then publishes the image and records the result. ref is the sandbox as
// the client named it, for the error of a sandbox gone meanwhile.
func (s *Snapshots) capture(ctx context.Context, ref string, sb *Sandbox, src *Snapshot, req CaptureSnapshotRequest,
	run func(ctx context.Context, image string) (CapturedImage, error)) (*Snapshot, error) {
	snap, err := s.beginCapture(ctx, sb, src, req)
	if err != nil {
		return nil, err
	}
	defer s.done(snap.ID)
	// The capture outlives a client that hangs up; its result is recorded.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.BuildTimeout)
	defer cancel()
	img, cerr := run(cctx, snap.ImageRef)
	if cerr == nil {
		snap.RegistryRef, cerr = s.publish(cctx, snap)
	}
	if cerr == nil {
		s.opt.Fault(FaultCaptureBeforeRecord)
	}
	if err := s.finishCapture(cctx, snap, img, cerr); err != nil {
		return nil, err
	}
	if cerr != nil {
		s.opt.Logger.WarnContext(ctx, "capture failed", "sandbox_id", sb.ID, "snapshot_id", snap.ID, "err", cerr)
		return nil, captureError(ref, cerr, snap.StatusMessage)
	}
	s.opt.Logger.InfoContext(ctx, "sandbox captured", "sandbox_id", sb.ID, "snapshot_id", snap.ID, "digest", img.Digest)
	return s.opt.Store.GetSnapshot(cctx, sb.TenantID, snap.ID)
}

// beginCapture records the snapshot a capture of sb makes, building and
// claimed by this process, and marks it in flight so the build poller
// leaves it alone until done. ErrInvalidArgument (name), ErrAlreadyExists,
// ErrResourceExhausted (quota).
func (s *Snapshots) beginCapture(ctx context.Context, sb *Sandbox, src *Snapshot, req CaptureSnapshotRequest) (*Snapshot, error) {
	name, tag, err := captureName(sb.TenantID, req)
	if err != nil {
		return nil, err
	}
	now := s.opt.Clock.Now()
	id := s.opt.IDs()
	if name == "" {
		name = id
	}
	capacity := req.FSCapacityBytes
	if capacity <= 0 {
		capacity = src.FSCapacityBytes
	}
	snap := &Snapshot{
		ID: id, TenantID: sb.TenantID, Name: name, Tag: tag, Status: SnapshotBuilding,
		DockerImage: src.DockerImage, RegistryID: src.RegistryID, ImageRef: ImageRefFor(id),
		FSCapacityBytes: capacity, SourceSandboxID: sb.ID, CreatedAt: now, UpdatedAt: now,
		Description: req.Description, Labels: req.Labels,
		ClaimOwner: s.opt.Owner, ClaimExpires: now.Add(s.opt.BuildTimeout + time.Minute),
	}
	if p, err := PrincipalFrom(ctx); err == nil {
		snap.CreatedBy = p.KeyID
	}
	s.mu.Lock()
	s.inflight[id] = true
	s.mu.Unlock()
	if req.Retag {
		err = s.insertSnapshot(ctx, snap, true)
	} else if _, gerr := s.opt.Store.GetSnapshotByName(ctx, sb.TenantID, name, ""); gerr == nil {
		err = Errorf(ErrAlreadyExists, "a snapshot named %q already exists", name)
	} else {
		err = s.insertSnapshot(ctx, snap, false)
	}
	if err != nil {
		s.done(id)
		if errors.Is(err, ErrAlreadyExists) {
			return nil, Errorf(ErrAlreadyExists, "a snapshot named %q already exists", name)
		}
		return nil, fmt.Errorf("record capture of %s: %w", sb.ID, err)
	}
	return snap, nil
}

// finishCapture records how the capture of snap ended: ready with img, or
// failed (cerr) with a client-safe message, which it also sets on snap.
// What a failed or unrecordable capture made is removed.
func (s *Snapshots) finishCapture(ctx context.Context, snap *Snapshot, img CapturedImage, cerr error) error {
	result := SnapshotResult{Status: SnapshotReady, ImageDigest: img.Digest, FSUsedBytes: img.UnpackedBytes, MemoryBytes: img.MemoryBytes, RegistryRef: snap.RegistryRef}
	if cerr != nil {
		result = SnapshotResult{Status: SnapshotFailed, StatusMessage: "capture of sandbox " + snap.SourceSandboxID + " failed: " + PublicMessage(cerr)}
		s.removeImage(ctx, snap.ImageRef)
	}
	snap.StatusMessage = result.StatusMessage
	if err := finishSnapshot(ctx, s.opt.Store, snap.ID, SnapshotPredecessors(result.Status), result); err != nil {
		s.removeImage(ctx, snap.ImageRef)
		s.unpublish(ctx, snap)
		s.opt.Observer.CaptureFinished(SnapshotFailed)
		return fmt.Errorf("record capture %s: %w", snap.ID, err)
	}
	s.opt.Observer.CaptureFinished(result.Status)
	return nil
}

// captureError is what a failed capture answers. The engine's kind stays
// where it speaks of the sandbox (gone; its files over the layer bound, a
// failed precondition) or of the server's space; anything else, a failed
// push included, is the server's storage failing.
func captureError(ref string, cerr error, msg string) error {
	switch k := KindOf(cerr); k {
	case ErrNotFound:
		return Errorf(ErrNotFound, "sandbox %q not found", ref)
	case ErrFailedPrecondition, ErrResourceExhausted:
		return WithCause(k, cerr, "%s", msg)
	}
	return WithCause(ErrUnavailable, cerr, "%s", msg)
}

// captureName is the new snapshot's name and tag ("" for an unnamed
// snapshot, whose name becomes its id).
func captureName(tenant string, req CaptureSnapshotRequest) (name, tag string, err error) {
	if !req.Namespaced {
		// Not normalized: a name that is not valid as sent is refused,
		// never quietly stored as another.
		if req.Name == "" {
			return "", req.Tag, nil
		}
		return req.Name, req.Tag, ValidateName("name", req.Name)
	}
	r, err := ParseSnapshotRef(req.Name)
	switch {
	case err != nil:
		return "", "", err
	case r.ID != "":
		return "", "", Errorf(ErrInvalidArgument, "name %q is a snapshot id; a name must not be one", req.Name)
	case r.Name == "":
		return "", req.Tag, nil
	}
	ns, name := r.Namespace()
	if ns == "" {
		name = r.Name
	} else if ns != TeamNamespace(tenant) {
		return "", "", Errorf(ErrInvalidArgument, "name %q: namespace %q is not your team's namespace %q", req.Name, ns, TeamNamespace(tenant))
	}
	if r.Tag != "" {
		tag = r.Tag
	} else {
		tag = req.Tag
	}
	return name, tag, ValidateName("name", name)
}
