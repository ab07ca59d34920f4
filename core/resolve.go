package core

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Lookup finds the caller's snapshot by reference, in any status.
// ErrNotFound, ErrInvalidArgument (a reference no snapshot can have).
func (s *Snapshots) Lookup(ctx context.Context, ref string) (*Snapshot, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	r, err := ParseSnapshotRef(ref)
	if err != nil {
		return nil, err
	}
	notFound := Errorf(ErrNotFound, "snapshot %q not found", ref)
	if r.ID != "" {
		snap, err := s.opt.Store.GetSnapshot(ctx, p.TenantID, r.ID)
		if errors.Is(err, ErrNotFound) {
			return nil, notFound
		}
		return snap, err
	}
	// As written (a LangSmith name may hold '/'), and without E2B's team
	// namespace when it has the caller's.
	names := []string{r.Name}
	if ns, rest := r.Namespace(); ns != "" && ns == TeamNamespace(p.TenantID) {
		names = append(names, rest)
	}
	// A reference no snapshot can hold (traversal, shell or unicode
	// tricks) is the client's mistake, not a missing snapshot.
	if !slices.ContainsFunc(names, func(n string) bool { return ValidateName("name", n) == nil }) {
		return nil, Errorf(ErrInvalidArgument, "snapshot reference %q is not a valid id or [namespace/]name[:tag]", ref)
	}
	tags := []string{r.Tag}
	if r.Tag == "default" || r.Tag == "latest" {
		// A snapshot made through the other vendor carries the other
		// default tag: the bare name finds it.
		tags = append(tags, "")
	}
	for _, name := range names {
		for _, tag := range tags {
			snap, err := s.opt.Store.GetSnapshotByName(ctx, p.TenantID, name, tag)
			if err == nil {
				return snap, nil
			}
			if !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
	}
	return nil, notFound
}

// resolveSnapshot finds the snapshot a sandbox starts from, creating the
// default snapshot on first use, and waits up to wait for it to be ready.
func (s *Sandboxes) resolveSnapshot(ctx context.Context, ref string, wait time.Duration) (*Snapshot, error) {
	if ref == "" {
		ref = DefaultSnapshotName
	}
	snap, err := s.opt.Snapshots.Lookup(ctx, ref)
	if r, _ := ParseSnapshotRef(ref); errors.Is(err, ErrNotFound) && r.Name == DefaultSnapshotName {
		snap, err = s.createDefault(ctx)
	}
	if err != nil {
		return nil, err
	}
	if wait <= 0 {
		// Not given: long enough for the default snapshot's first build.
		wait = 30 * time.Second
	}
	deadline := s.opt.Clock.Now().Add(wait)
	for snap.Status == SnapshotBuilding && s.opt.Clock.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if snap, err = s.opt.Store.GetSnapshot(ctx, snap.TenantID, snap.ID); err != nil {
			return nil, err
		}
	}
	switch snap.Status {
	case SnapshotReady:
		return snap, nil
	case SnapshotFailed:
		return nil, Errorf(ErrFailedPrecondition, "snapshot %s (%s) failed to build: %s", snap.Name, snap.ID, snap.StatusMessage)
	}
	return nil, Errorf(ErrFailedPrecondition, "snapshot %s (%s) is still building; try again when it is ready", snap.Name, snap.ID)
}

// createDefault builds the tenant's default snapshot from the configured
// default image, like any image snapshot.
func (s *Sandboxes) createDefault(ctx context.Context) (*Snapshot, error) {
	if s.opt.DefaultImage == "" {
		return nil, Errorf(ErrNotFound, "no snapshot given and no default image configured (SNAPGATE_DEFAULT_IMAGE)")
	}
	snap, err := s.opt.Snapshots.Create(ctx, CreateSnapshotRequest{
		Name: DefaultSnapshotName, DockerImage: s.opt.DefaultImage, FSCapacityBytes: s.opt.DefaultFSCapacity,
	})
	if errors.Is(err, ErrAlreadyExists) {
		return s.opt.Snapshots.Lookup(ctx, DefaultSnapshotName)
	}
	return snap, err
}
