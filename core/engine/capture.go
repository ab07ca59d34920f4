package engine

import (
	"context"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"

	"github.com/snapgate/snapgate/core"
)

// A capture records a sandbox's root filesystem as a new image: the
// layers it was started from plus one layer with what changed. The fast
// path (overlayfs):
//
//  1. Prepare a temporary snapshot on the sandbox snapshot's parent.
//  2. Copy the sandbox's overlay upper directory into the temporary
//     snapshot's while it runs (cp -a: whiteouts, opaque xattrs, hard
//     links and all); freeze it, copy again what changed meanwhile
//     (capture_sync.go), thaw. The sandbox is frozen only for this sync.
//  3. Tar the copy into the content store: the new layer and its diff ID.
//  4. Commit the temporary snapshot under the new chain ID: the image is
//     unpacked without applying the tar.
//  5. Write config, manifest and the image record, with GC labels.
//
// Everything happens inside one lease, so nothing is collected before the
// image record references it, and a failed capture leaves nothing behind
// once the lease is released. Without overlayfs (or with overlay features
// that make the upper directory unreadable as a diff) the diff service
// computes the layer instead; it walks both whole trees, so it is slower
// and the sandbox stays frozen for all of it.

// layerResult is the new top layer of a capture.
type layerResult struct {
	diffID  digest.Digest // == blob digest: the layer is a plain tar
	size    int64         // blob size
	chainID string        // committed snapshot of all layers
	paused  time.Duration // how long the sandbox was frozen
}

// CaptureSandbox records sandbox req.SandboxID's root filesystem as image
// req.Name (replacing a record of that name). The sandbox keeps its state:
// a running one is frozen only while its changes are copied. Files under
// /.snapgate (the runtime's init binary) are left out. A sandbox killed
// during the capture fails it, and no record req.Name is written.
// ErrInvalidArgument, ErrNotFound, ErrFailedPrecondition (memory capture
// on a host without CRIU), ErrResourceExhausted, ErrUnavailable.
func (e *Engine) CaptureSandbox(ctx context.Context, req core.CaptureRequest) (core.CapturedImage, error) {
	if req.Memory {
		return core.CapturedImage{}, e.memoryCaptureError()
	}
	if req.SandboxID == "" || req.Name == "" {
		return core.CapturedImage{}, core.Errorf(core.ErrInvalidArgument, "a capture needs a sandbox id and an image name")
	}
	start := time.Now()
	ctx = e.withNS(ctx)
	c, err := e.client.LoadContainer(ctx, req.SandboxID)
	if errdefs.IsNotFound(err) {
		return core.CapturedImage{}, core.WithCause(core.ErrNotFound, err, "sandbox %s not found", req.SandboxID)
	}
	if err != nil {
		return core.CapturedImage{}, classify(err, "capture sandbox "+req.SandboxID)
	}
	var out core.CapturedImage
	var paused time.Duration
	err = e.withLease(ctx, func(ctx context.Context) error {
		var err error
		out, paused, err = e.capture(ctx, c, req.Name)
		return err
	})
	if err != nil {
		return core.CapturedImage{}, e.captureError(ctx, err, req.SandboxID)
	}
	total := time.Since(start)
	e.log.DebugContext(ctx, "captured sandbox", "sandbox", req.SandboxID, "image", req.Name,
		"digest", out.Digest, "paused", paused, "total", total)
	if e.onCapture != nil {
		e.onCapture(paused, total)
	}
	return out, nil
}

// memoryCaptureError refuses a memory capture before anything is paused.
// Memory capture is not implemented even where CRIU works.
func (e *Engine) memoryCaptureError() error {
	if !e.MemorySnapshots() {
		return core.Errorf(core.ErrFailedPrecondition,
			"this server cannot capture a sandbox's memory (CRIU is unavailable on this host): capture the sandbox without memory")
	}
	return core.Errorf(core.ErrFailedPrecondition,
		"this server does not capture a sandbox's memory yet: capture the sandbox without memory")
}

// captureError keeps classified errors and reports the sandbox having gone
// meanwhile as such rather than as the error it caused.
func (e *Engine) captureError(ctx context.Context, err error, id string) error {
	if core.KindOf(err) != nil {
		return err
	}
	if e.sandboxGone(context.WithoutCancel(ctx), id) {
		return core.WithCause(core.ErrNotFound, err, "sandbox %s was killed while it was being captured", id)
	}
	return classify(err, "capture sandbox "+id)
}

// sandboxGone reports a sandbox whose container or snapshot is gone, or
// going: a kill removes the snapshot first, then the container.
func (e *Engine) sandboxGone(ctx context.Context, id string) bool {
	c, err := e.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return true
	}
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	if err != nil {
		return errdefs.IsNotFound(err)
	}
	_, err = e.client.SnapshotService(info.Snapshotter).Stat(ctx, info.SnapshotKey)
	return errdefs.IsNotFound(err)
}

// capture runs inside the lease. It returns the image and the time the
// sandbox was frozen.
func (e *Engine) capture(ctx context.Context, c containerd.Container, name string) (core.CapturedImage, time.Duration, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return core.CapturedImage{}, 0, err
	}
	base, err := e.loadBase(ctx, info)
	if err != nil {
		return core.CapturedImage{}, 0, err
	}
	sn := e.client.SnapshotService(info.Snapshotter)
	sinfo, err := sn.Stat(ctx, info.SnapshotKey)
	if err != nil {
		return core.CapturedImage{}, 0, err
	}
	if want := identity.ChainID(base.diffIDs).String(); sinfo.Parent != want {
		return core.CapturedImage{}, 0, core.Errorf(core.ErrFailedPrecondition,
			"sandbox %s does not run on the layers of the image it was started from", c.ID())
	}
	layer, err := e.captureLayer(ctx, c, info, sn, base.diffIDs)
	if err != nil {
		return core.CapturedImage{}, layer.paused, err
	}
	img, err := e.recordImage(ctx, c, info, base, layer, name)
	return img, layer.paused, err
}

// captureLayer picks the fast path when the sandbox's snapshot is an
// overlay whose upper directory is a plain diff.
func (e *Engine) captureLayer(ctx context.Context, c containerd.Container, info containers.Container,
	sn snapshots.Snapshotter, parentDiffIDs []digest.Digest) (layerResult, error) {
	mounts, err := sn.Mounts(ctx, info.SnapshotKey)
	if err != nil {
		return layerResult{}, err
	}
	upper, ok := upperDir(mounts)
	if !ok || e.forceDiff {
		if shiftOf(info.Labels).on() {
			// The diff service would compare the sandbox's idmapped view
			// with an unmapped one and record every file's host owner.
			return layerResult{}, core.Errorf(core.ErrFailedPrecondition,
				"sandbox %s cannot be captured: its files are not on an overlay upper directory this server can read", c.ID())
		}
		return e.captureByDiff(ctx, c, info, sn, parentDiffIDs)
	}
	return e.captureByCopy(ctx, c, info, sn, upper, parentDiffIDs)
}

// frozen runs fn with the sandbox's task frozen, if it is running; a
// paused sandbox is already frozen and stays so, a stopped one has nothing
// that writes. The task is thawed on every path, with a live context, and
// the frozen time is returned. The freeze lock keeps clients' pause and
// resume (and exec starts) out meanwhile, the files lock the dataplane's
// writes (HoldFiles).
func (e *Engine) frozen(ctx context.Context, c containerd.Container, fn func() error) (time.Duration, error) {
	// Dataplane changes in flight finish first, later ones wait for the
	// thaw. Taken before the freeze lock: waiting for an upload to end
	// must not hold up pause, resume or exec starts.
	unlockFiles, err := e.files.lock(ctx, c.ID())
	if err != nil {
		return 0, err
	}
	defer unlockFiles()
	unlock, err := e.freezes.lock(ctx, c.ID())
	if err != nil {
		return 0, err
	}
	defer unlock()
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return 0, fn()
	}
	if err != nil {
		return 0, err
	}
	st, err := task.Status(ctx)
	if err != nil && !errdefs.IsNotFound(err) {
		return 0, err
	}
	if st.Status != containerd.Running {
		return 0, fn()
	}
	start := time.Now()
	if err := task.Pause(ctx); err != nil {
		return 0, err
	}
	if e.fault != nil { // nil on a zero Engine
		e.fault(FaultCaptureAfterFreeze)
	}
	resumed := false
	resume := func() {
		if resumed {
			return
		}
		resumed = true
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
		err := task.Resume(rctx)
		if err != nil && !errdefs.IsNotFound(err) && !e.sandboxGone(rctx, c.ID()) {
			e.log.WarnContext(ctx, "resume sandbox after capture", "sandbox", c.ID(), "err", err)
		}
	}
	defer resume()
	err = fn()
	resume()
	return time.Since(start), err
}

// stillThere fails when the sandbox's snapshot is gone. Kill removes the
// snapshot record before anything of its files, so a snapshot still there
// after a copy proves the copy saw all of it.
func stillThere(ctx context.Context, sn snapshots.Snapshotter, c containerd.Container, key string) error {
	if _, err := sn.Stat(ctx, key); errdefs.IsNotFound(err) {
		return core.WithCause(core.ErrNotFound, err, "sandbox %s was killed while it was being captured", c.ID())
	} else if err != nil {
		return err
	}
	return nil
}
