package core

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// SnapshotRef is a parsed reference to a snapshot: an id, or
// [namespace/]name[:tag] where the namespace, if any, is the tenant.
type SnapshotRef struct {
	ID   string
	Name string
	Tag  string
}

// ParseSnapshotRef parses ref as both vendors write it: LangSmith ids and
// names, E2B template ids ("<id>:default") and names ("ns/alias:tag").
func ParseSnapshotRef(ref string) SnapshotRef {
	ref = strings.ToLower(strings.TrimSpace(ref))
	var r SnapshotRef
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref, r.Tag = ref[:i], ref[i+1:]
	}
	if _, err := uuid.Parse(ref); err == nil {
		r.ID = ref
		return r
	}
	r.Name = ref
	return r
}

// refTagRE is what a tag in a reference may hold (empty: none given).
var refTagRE = regexp.MustCompile(`^[a-z0-9_.-]{0,128}$`)

// Lookup finds the caller's snapshot by reference, in any status.
// ErrNotFound, ErrInvalidArgument (a reference no snapshot can have).
func (s *Snapshots) Lookup(ctx context.Context, ref string) (*Snapshot, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	r := ParseSnapshotRef(ref)
	notFound := Errorf(ErrNotFound, "snapshot %q not found", ref)
	if r.ID != "" {
		snap, err := s.opt.Store.GetSnapshot(ctx, p.TenantID, r.ID)
		if errors.Is(err, ErrNotFound) {
			return nil, notFound
		}
		return snap, err
	}
	names := []string{r.Name}
	// E2B prefixes names with the team namespace, here the tenant id.
	if rest, ok := strings.CutPrefix(r.Name, strings.ToLower(p.TenantID)+"/"); ok {
		names = append(names, rest)
	}
	// A reference no snapshot can hold (traversal, shell or unicode
	// tricks) is the client's mistake, not a missing snapshot.
	if !slices.ContainsFunc(names, func(n string) bool { return ValidateName("name", n) == nil }) || !refTagRE.MatchString(r.Tag) {
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
	if errors.Is(err, ErrNotFound) && ParseSnapshotRef(ref).Name == DefaultSnapshotName {
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
