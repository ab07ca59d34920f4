package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"
)

// SnapshotRegistry is the OCI registry that makes snapshots
// node-independent (a cluster): every snapshot is pushed there before it is
// reported ready, as <Repository>/<tenant>:<snapshot id>, and a node that
// lacks a snapshot's image pulls it from there when a sandbox starts from
// it. One repository per tenant lets a capture send only its new layer: the
// registry already holds the base layers in that repository.
type SnapshotRegistry struct {
	// Repository is the prefix host[:port][/path], e.g.
	// "registry.example.com/snapgate" or "127.0.0.1:5000/snaps".
	Repository string
	Username   string
	Password   string
}

// NewSnapshotRegistry checks a repository prefix and returns the registry
// settings. ErrInvalidArgument.
func NewSnapshotRegistry(repository, username, password string) (*SnapshotRegistry, error) {
	repo := strings.TrimSuffix(strings.TrimSpace(repository), "/")
	if strings.Contains(repo, "://") {
		return nil, Errorf(ErrInvalidArgument, "snapshot registry %q must be host[:port][/path], without a scheme", repository)
	}
	host, path, _ := strings.Cut(repo, "/")
	// Without a dot, a port or "localhost", docker's rules read the first
	// component as a Docker Hub namespace, not a host.
	if host == "" || strings.ContainsAny(host, " \t@") || (!strings.ContainsAny(host, ".:") && host != "localhost") {
		return nil, Errorf(ErrInvalidArgument, "snapshot registry %q must start with a registry host (with a dot or a port, or localhost), e.g. registry.example.com/snapgate", repository)
	}
	if path != "" && !nameRE.MatchString(path) {
		return nil, Errorf(ErrInvalidArgument, "snapshot registry %q: the repository path %q must be lowercase letters, digits and '.', '_', '-' separators, with '/' between components", repository, path)
	}
	if password != "" && username == "" {
		return nil, Errorf(ErrInvalidArgument, "a snapshot registry password needs a username too")
	}
	return &SnapshotRegistry{Repository: strings.ToLower(host) + strings.TrimPrefix(repo, host), Username: username, Password: password}, nil
}

// LogValue keeps the password out of logs.
func (r SnapshotRegistry) LogValue() slog.Value {
	return slog.GroupValue(slog.String("repository", r.Repository), slog.String("username", r.Username))
}

// auth is the credential for the registry's host, nil without a username.
func (r *SnapshotRegistry) auth() *RegistryAuth {
	if r == nil || r.Username == "" {
		return nil
	}
	return &RegistryAuth{Host: registryHost(r.Repository), Username: r.Username, Password: r.Password}
}

// repositoryFor is the tenant's repository. Tenant ids become one lowercase
// path component; an id that had to change gets a hash of itself appended,
// so two tenants never share a repository by accident.
func (r *SnapshotRegistry) repositoryFor(tenantID string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(tenantID) {
		if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(c)
			dash = false
			continue
		}
		dash = true
	}
	safe := b.String()
	if len(safe) > 64 {
		safe = strings.TrimRight(safe[:64], "-")
	}
	if safe != tenantID {
		sum := sha256.Sum256([]byte(tenantID))
		if safe != "" {
			safe += "-"
		}
		safe += hex.EncodeToString(sum[:4])
	}
	return r.Repository + "/" + safe
}

// PushObserver may be implemented by an Observer to count what snapshots
// sent to the snapshot registry.
type PushObserver interface {
	// ImagePushed reports a successful push and the bytes it uploaded.
	ImagePushed(bytes int64)
}

// publish pushes snap's image to the snapshot registry, if one is set, and
// returns the reference to record ("" without one). The error is
// ErrUnavailable whatever the registry said: to the client it is the
// server's storage failing, and its message names the registry.
func (s *Snapshots) publish(ctx context.Context, snap *Snapshot) (string, error) {
	reg := s.opt.SnapshotRegistry
	if reg == nil {
		return "", nil
	}
	ref := reg.repositoryFor(snap.TenantID) + ":" + snap.ID
	pushed, err := s.opt.Engine.PushImage(ctx, snap.ImageRef, ref, reg.auth())
	if err != nil {
		return "", WithCause(ErrUnavailable, err, "pushing to the snapshot registry %s failed: %s", reg.Repository, PublicMessage(err))
	}
	if o, ok := s.opt.Observer.(PushObserver); ok {
		o.ImagePushed(pushed.Bytes)
	}
	s.opt.Logger.InfoContext(ctx, "snapshot pushed", "snapshot_id", snap.ID, "ref", ref, "digest", pushed.Digest, "bytes", pushed.Bytes)
	return ref + "@" + pushed.Digest, nil
}

// ensureImage pulls snap's image from the snapshot registry under its
// engine name: the snapshot was made on another node. It gets the build
// timeout, a download being no start. Concurrent callers for one snapshot
// share one pull. ErrUnavailable.
func (s *Snapshots) ensureImage(ctx context.Context, snap *Snapshot) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.BuildTimeout)
	defer cancel()
	req := PullRequest{Name: snap.ImageRef, Source: snap.RegistryRef, Auth: s.opt.SnapshotRegistry.auth()}
	_, _, err := s.pulls.Do("snapshot\x00"+snap.ID, func() (pullResult, error) {
		img, err := s.enginePull(ctx, req)
		return pullResult{image: img, name: snap.ImageRef}, err
	})
	if err != nil {
		return WithCause(ErrUnavailable, err, "pulling snapshot %s from the snapshot registry %s failed: %s",
			snap.ID, registryHost(snap.RegistryRef), PublicMessage(err))
	}
	s.opt.Logger.InfoContext(ctx, "snapshot pulled from the snapshot registry", "snapshot_id", snap.ID, "ref", snap.RegistryRef)
	return nil
}

// unpublish deletes snap's manifest (already deleted as a row) from the
// snapshot registry, unless another snapshot of the tenant shares it: two
// builds of one image push one manifest, and a registry deletes a manifest
// with every tag on it. Many registries refuse deletes; that only costs
// them storage, so failures are logged, never reported to the client.
func (s *Snapshots) unpublish(ctx context.Context, snap *Snapshot) {
	repo, digest, ok := splitRegistryRef(snap.RegistryRef)
	if !ok {
		return
	}
	log := s.opt.Logger.With("snapshot_id", snap.ID, "ref", snap.RegistryRef)
	// Pushes keep the manifest digest, so sharers have it as ImageDigest.
	others, err := s.opt.Store.ListSnapshots(ctx, snap.TenantID, SnapshotFilter{ImageDigest: digest, Limit: maxLimit})
	if err != nil {
		log.WarnContext(ctx, "snapshot registry manifest kept: cannot list its other users", "err", err)
		return
	}
	for _, o := range others {
		if r, d, ok := splitRegistryRef(o.RegistryRef); ok && r == repo && d == digest {
			log.InfoContext(ctx, "snapshot registry manifest kept: another snapshot uses it", "other_snapshot_id", o.ID)
			return
		}
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.opt.Engine.DeleteRemoteImage(dctx, repo+"@"+digest, s.opt.SnapshotRegistry.auth()); err != nil {
		log.InfoContext(ctx, "snapshot registry kept the manifest (deletes refused or failed)", "err", err)
	}
}

// splitRegistryRef splits "host/repo[:tag]@digest" into repository and
// digest; ok is false when ref has no digest.
func splitRegistryRef(ref string) (repo, digest string, ok bool) {
	named, digest, ok := strings.Cut(ref, "@")
	if !ok || named == "" || digest == "" {
		return "", "", false
	}
	if i := strings.LastIndexByte(named, ':'); i > strings.LastIndexByte(named, '/') {
		named = named[:i]
	}
	return named, digest, true
}

// startFrom starts spec and returns the context for what follows the
// start, still within StartTimeout. When this node lacks the image of a
// snapshot another node pushed to the snapshot registry, it pulls the image
// first and the start, with a fresh StartTimeout, follows the pull.
func (s *Sandboxes) startFrom(ctx context.Context, spec SandboxSpec, snap *Snapshot) (context.Context, context.CancelFunc, error) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.StartTimeout)
	err := s.opt.Engine.StartSandbox(sctx, spec)
	if KindOf(err) != ErrNotFound || snap.RegistryRef == "" {
		return sctx, cancel, err
	}
	cancel()
	s.opt.Logger.InfoContext(ctx, "snapshot image not on this node: pulling it", "snapshot_id", snap.ID, "sandbox_id", spec.ID)
	err = s.opt.Snapshots.ensureImage(ctx, snap)
	sctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), s.opt.StartTimeout)
	if err != nil {
		return sctx, cancel, err
	}
	return sctx, cancel, s.opt.Engine.StartSandbox(sctx, spec)
}
