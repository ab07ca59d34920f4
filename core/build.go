package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Run starts the build workers and the poller that resumes builds nobody
// holds (left over by a crash, or handed back at shutdown). It reconciles
// engine images with snapshot rows at start and at every poll. It returns
// when ctx ends and the workers have stopped; unfinished builds are handed
// back.
func (s *Snapshots) Run(ctx context.Context) {
	if err := s.Reconcile(ctx); err != nil {
		s.opt.Logger.WarnContext(ctx, "reconcile engine images", "err", err)
	}
	var wg sync.WaitGroup
	for range s.opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case id := <-s.jobs:
					s.build(ctx, id)
				}
			}
		}()
	}
	s.poll(ctx)
	tick := time.NewTicker(s.opt.ClaimTTL / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
			s.poll(ctx)
			if err := s.Reconcile(ctx); err != nil {
				s.opt.Logger.WarnContext(ctx, "reconcile engine images", "err", err)
			}
		}
	}
}

// poll queues every build that no live process holds. Claims of this owner
// count as free: a restarted node takes back its own builds at once.
func (s *Snapshots) poll(ctx context.Context) {
	builds, err := s.opt.Store.ListClaimableBuilds(ctx, s.opt.Owner, s.opt.Clock.Now())
	if err != nil {
		s.opt.Logger.WarnContext(ctx, "list claimable builds", "err", err)
		return
	}
	for _, b := range builds {
		s.enqueue(b.ID)
	}
}

func (s *Snapshots) enqueue(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[id] {
		return
	}
	select {
	case s.jobs <- id:
		s.inflight[id] = true
	default:
		// Queue full: the row stays building and unclaimed; the poller
		// queues it again later.
	}
}

func (s *Snapshots) done(id string) {
	s.mu.Lock()
	delete(s.inflight, id)
	s.mu.Unlock()
}

// build runs one snapshot build to a final status, or hands it back when
// the process is shutting down.
func (s *Snapshots) build(ctx context.Context, id string) {
	defer s.done(id)
	log := s.opt.Logger.With("snapshot_id", id)
	now := s.opt.Clock.Now()
	ok, err := s.opt.Store.ClaimSnapshotBuild(ctx, id, s.opt.Owner, now, now.Add(s.opt.ClaimTTL))
	if err != nil || !ok {
		if err != nil {
			log.WarnContext(ctx, "claim snapshot build", "err", err)
		}
		return
	}
	snap, err := s.opt.Store.GetSnapshot(ctx, "", id)
	if err != nil {
		log.WarnContext(ctx, "load claimed snapshot", "err", err)
		return
	}
	if snap.SourceSandboxID != "" {
		// A capture is done in its request and cannot be redone later: the
		// sandbox has moved on. One claimable here was cut off by a crash.
		s.failInterruptedCapture(ctx, snap)
		return
	}
	bctx, cancel := context.WithTimeout(ctx, s.opt.BuildTimeout)
	defer cancel()
	stopRenew := s.renewClaim(bctx, id)
	pulled, err := s.pull(bctx, snap)
	pullFailed := err != nil
	if !pullFailed {
		s.opt.Fault(FaultBuildAfterPull)
	}
	if err == nil && pulled.UnpackedBytes <= snap.FSCapacityBytes {
		snap.RegistryRef, err = s.publish(bctx, snap)
	}
	stopRenew()

	// Status writes use a fresh context: the build's may be dead by now.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer wcancel()
	if err != nil && ctx.Err() != nil {
		log.InfoContext(wctx, "snapshot build handed back at shutdown")
		if rerr := s.opt.Store.ReleaseSnapshotClaim(wctx, id, s.opt.Owner); rerr != nil {
			log.WarnContext(wctx, "release snapshot claim", "err", rerr)
		}
		return
	}
	result := SnapshotResult{Status: SnapshotReady, ImageDigest: pulled.Digest, FSUsedBytes: pulled.UnpackedBytes, RegistryRef: snap.RegistryRef}
	switch {
	case err != nil:
		result = SnapshotResult{Status: SnapshotFailed, StatusMessage: buildFailure(snap, err, pullFailed && bctx.Err() != nil, s.opt.BuildTimeout)}
		log.WarnContext(wctx, "snapshot build failed", "err", err, "status_message", result.StatusMessage)
	case pulled.UnpackedBytes > snap.FSCapacityBytes:
		result = SnapshotResult{Status: SnapshotFailed, StatusMessage: fmt.Sprintf(
			"image %s unpacks to %d bytes, more than fs_capacity_bytes %d: create the snapshot with fs_capacity_bytes >= %d",
			snap.DockerImage, pulled.UnpackedBytes, snap.FSCapacityBytes, pulled.UnpackedBytes)}
	}
	if result.Status == SnapshotFailed {
		s.removeImage(wctx, snap.ImageRef)
	}
	if err := finishSnapshot(wctx, s.opt.Store, id, SnapshotPredecessors(result.Status), result); err != nil {
		// Deleted while building (or finished elsewhere): what was pulled
		// under this snapshot's name belongs to nobody now.
		log.InfoContext(wctx, "snapshot gone before its build finished", "err", err)
		if errors.Is(err, ErrFailedPrecondition) || errors.Is(err, ErrNotFound) {
			if cur, gerr := s.opt.Store.GetSnapshot(wctx, "", id); gerr != nil || cur.Status != SnapshotReady {
				s.removeImage(wctx, snap.ImageRef)
				s.unpublish(wctx, snap)
			}
		}
		return
	}
	s.opt.Observer.BuildFinished(result.Status)
	log.InfoContext(wctx, "snapshot build finished", "status", result.Status, "digest", result.ImageDigest, "fs_used_bytes", result.FSUsedBytes)
}

func (s *Snapshots) failInterruptedCapture(ctx context.Context, snap *Snapshot) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s.removeImage(wctx, snap.ImageRef)
	msg := fmt.Sprintf("capture of sandbox %s was interrupted (the server stopped while capturing); capture it again", snap.SourceSandboxID)
	if err := finishSnapshot(wctx, s.opt.Store, snap.ID, []SnapshotStatus{SnapshotBuilding}, SnapshotResult{Status: SnapshotFailed, StatusMessage: msg}); err != nil {
		s.opt.Logger.WarnContext(wctx, "fail interrupted capture", "snapshot_id", snap.ID, "err", err)
		return
	}
	s.opt.Observer.CaptureFinished(SnapshotFailed)
}

func (s *Snapshots) removeImage(ctx context.Context, name string) {
	if err := s.opt.Engine.RemoveImage(ctx, name); err != nil {
		s.opt.Logger.WarnContext(ctx, "remove image", "image", name, "err", err)
	}
}

// renewClaim keeps this process's claim alive while a build runs.
func (s *Snapshots) renewClaim(ctx context.Context, id string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(s.opt.ClaimTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				now := s.opt.Clock.Now()
				if _, err := s.opt.Store.ClaimSnapshotBuild(ctx, id, s.opt.Owner, now, now.Add(s.opt.ClaimTTL)); err != nil {
					s.opt.Logger.WarnContext(ctx, "renew snapshot claim", "snapshot_id", id, "err", err)
				}
			}
		}
	}()
	return cancel
}

// pull makes the snapshot's image present under its own name. Concurrent
// builds of the same image and credentials share one pull; the others only
// add their name to the pulled image.
func (s *Snapshots) pull(ctx context.Context, snap *Snapshot) (PulledImage, error) {
	var auth *RegistryAuth
	if snap.RegistryID != "" {
		reg, err := s.opt.Store.GetRegistry(ctx, snap.TenantID, snap.RegistryID)
		if err != nil {
			return PulledImage{}, WithCause(ErrFailedPrecondition, err, "registry %s used by this snapshot no longer exists", snap.RegistryID)
		}
		auth = &RegistryAuth{Host: reg.Host(), Username: reg.Username, Password: reg.Password}
	}
	key := snap.DockerImage + "\x00" + snap.TenantID + "\x00" + snap.RegistryID
	req := PullRequest{Name: snap.ImageRef, Source: snap.DockerImage, Auth: auth}
	res, leader, err := s.pulls.Do(key, func() (pullResult, error) {
		img, err := s.enginePull(ctx, req)
		return pullResult{image: img, name: snap.ImageRef}, err
	})
	if err != nil || leader {
		return res.image, err
	}
	if err := s.opt.Engine.TagImage(ctx, res.name, snap.ImageRef); err == nil {
		return res.image, nil
	} else if !errors.Is(err, ErrNotFound) {
		return PulledImage{}, err
	}
	// The leader's snapshot was deleted in between: pull for ourselves.
	return s.enginePull(ctx, req)
}

// enginePull is one engine pull, reported to the observer when it worked.
func (s *Snapshots) enginePull(ctx context.Context, req PullRequest) (PulledImage, error) {
	img, err := s.opt.Engine.Pull(ctx, req)
	if err == nil {
		s.opt.Observer.ImagePulled(img.UnpackedBytes)
	}
	return img, err
}

// buildFailure turns a build error into a status message a person can act on.
func buildFailure(snap *Snapshot, err error, timedOut bool, timeout time.Duration) string {
	if timedOut {
		return fmt.Sprintf("pulling %s did not finish within %s: check the registry is reachable and the image size", snap.DockerImage, timeout)
	}
	msg := PublicMessage(err)
	if KindOf(err) == nil {
		msg = "internal error while pulling " + snap.DockerImage + "; the server log has details for snapshot " + snap.ID
	}
	return msg
}

// Reconcile removes engine images of snapshots that no longer exist (a
// crash between deleting a row and removing its image, or a build that
// died mid-pull of a deleted snapshot).
func (s *Snapshots) Reconcile(ctx context.Context) error {
	images, err := s.opt.Engine.ListImages(ctx)
	if err != nil {
		return fmt.Errorf("list engine images: %w", err)
	}
	// Rows are read after images: a row is always written before its image,
	// so an image without a row here really is an orphan.
	refs, err := s.opt.Store.SnapshotImageRefs(ctx)
	if err != nil {
		return fmt.Errorf("list snapshot image refs: %w", err)
	}
	known := make(map[string]bool, len(refs))
	for _, r := range refs {
		known[r] = true
	}
	for _, name := range images {
		if strings.HasPrefix(name, ImageRefFor("")) && !known[name] {
			s.opt.Logger.InfoContext(ctx, "removing orphan image", "image", name)
			s.removeImage(ctx, name)
		}
	}
	return nil
}

type pullResult struct {
	image PulledImage
	name  string // the engine name the leader pulled under
}

// flightGroup runs one call per key at a time and shares its result with
// callers that arrive while it runs.
type flightGroup struct {
	mu    sync.Mutex
	calls map[string]*flightCall
}

type flightCall struct {
	wg  sync.WaitGroup
	res pullResult
	err error
}

// Do returns fn's result, and whether this caller was the one that ran it.
func (g *flightGroup) Do(key string, fn func() (pullResult, error)) (pullResult, bool, error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*flightCall{}
	}
	if c, ok := g.calls[key]; ok {
		g.mu.Unlock()
		c.wg.Wait()
		return c.res, false, c.err
	}
	c := &flightCall{}
	c.wg.Add(1)
	g.calls[key] = c
	g.mu.Unlock()
	c.res, c.err = fn()
	g.mu.Lock()
	delete(g.calls, key)
	g.mu.Unlock()
	c.wg.Done()
	return c.res, true, c.err
}
