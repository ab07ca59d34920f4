package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/transfer"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/snapgate/snapgate/core"
)

// Pull fetches and unpacks req.Source and records it as req.Name. When
// req.Name already holds an unpacked image of the same source, it is
// returned as is, without asking the registry: a retried build converges
// on what the first attempt got. Pulls of one source are serialized (see
// keyRWLock); each still resolves the manifest with its own credentials, so
// the registry authorizes every caller. PulledImage.Digest is the digest of the
// platform-specific manifest (for a multi-platform index, the entry chosen
// for this host's platform, not the index's digest). ErrInvalidArgument,
// ErrNotFound, ErrPermissionDenied, ErrUnavailable, ErrResourceExhausted.
func (e *Engine) Pull(ctx context.Context, req core.PullRequest) (core.PulledImage, error) {
	ctx = e.withNS(ctx)
	if req.Name == "" {
		return core.PulledImage{}, core.Errorf(core.ErrInvalidArgument, "an image name is required to pull %s", req.Source)
	}
	named, err := parseReference(req.Source)
	if err != nil {
		return core.PulledImage{}, err
	}
	source := named.String()
	if img, ok := e.existing(ctx, req.Name, source); ok {
		return e.describe(ctx, img, source)
	}
	t := e.target(named, req.Auth)
	unlock, err := e.pulls.lock(ctx, source)
	if err != nil {
		return core.PulledImage{}, classifyPull(err, t)
	}
	defer unlock()
	var img containerd.Image
	err = e.withLease(ctx, func(ctx context.Context) error {
		var perr error
		img, perr = e.client.Pull(ctx, source,
			containerd.WithPullUnpack,
			containerd.WithPullSnapshotter(e.snapshotter),
			containerd.WithResolver(&namingResolver{inner: e.resolver(req.Auth), source: source, name: req.Name}),
			containerd.WithPullLabel(sourceLabel, source),
		)
		return perr
	})
	if err != nil {
		if isDiskFull(err) {
			e.collectSnapshots(ctx)
		}
		return core.PulledImage{}, classifyPull(err, t)
	}
	return e.describe(ctx, img, source)
}

// collectSnapshots makes containerd garbage-collect the snapshotter again
// after a pull that filled the disk. The collection that ran when the pull's
// lease went removed the half-unpacked snapshot from containerd's metadata,
// but the snapshotter could not record the removal in its own database on
// the full disk (containerd logs "snapshot garbage collection failed ... no
// space left on device"), so its files stay on disk. Containerd retries only
// when another snapshot of that snapshotter is removed: create an empty one
// under a lease and drop the lease synchronously. By then the pull's content
// is gone, so there is room for the snapshotter's write. Best effort.
func (e *Engine) collectSnapshots(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	ls := e.client.LeasesService()
	l, err := ls.Create(ctx, leases.WithRandomID(), leases.WithExpiration(e.leaseTTL), leases.WithLabel(ownerLabel, ownerValue))
	if err != nil {
		e.log.WarnContext(ctx, "collect snapshots after a full disk: create lease", "err", err)
		return
	}
	_, err = e.client.SnapshotService(e.snapshotter).Prepare(leases.WithLease(ctx, l.ID), "snapgate-gc-"+l.ID, "")
	if err != nil {
		e.log.WarnContext(ctx, "collect snapshots after a full disk: prepare", "err", err)
	}
	if err := ls.Delete(ctx, l, leases.SynchronousDelete); err != nil {
		e.log.WarnContext(ctx, "collect snapshots after a full disk: release lease", "lease", l.ID, "err", err)
	}
}

// existing returns the image already recorded under name if it came from
// source and is unpacked; any doubt means "pull again".
func (e *Engine) existing(ctx context.Context, name, source string) (containerd.Image, bool) {
	rec, err := e.client.ImageService().Get(ctx, name)
	if err != nil || rec.Labels[sourceLabel] != source {
		return nil, false
	}
	img := containerd.NewImage(e.client, rec)
	ok, err := img.IsUnpacked(ctx, e.snapshotter)
	return img, err == nil && ok
}

// describe reports the manifest digest and the unpacked size: the sum of
// each layer snapshot's own usage (a committed overlay snapshot holds only
// its layer's files). Usage is disk usage as du counts it (allocated
// blocks, hard links once), so many small files weigh 4 KiB each.
func (e *Engine) describe(ctx context.Context, img containerd.Image, source string) (core.PulledImage, error) {
	op := "inspect pulled image " + source
	m, err := platformManifest(ctx, e.client.ContentStore(), img.Target(), img.Platform())
	if err != nil {
		return core.PulledImage{}, classify(err, op)
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		return core.PulledImage{}, classify(err, op)
	}
	size, err := e.unpackedSize(ctx, e.snapshotter, diffIDs)
	if err != nil {
		return core.PulledImage{}, classify(err, op)
	}
	return core.PulledImage{Digest: m.Digest.String(), UnpackedBytes: size}, nil
}

// platformManifest follows indexes down to the manifest for platform,
// picking the best match the way containerd's unpack does.
func platformManifest(ctx context.Context, cs content.Provider, desc ocispec.Descriptor, platform platforms.MatchComparer) (ocispec.Descriptor, error) {
	for depth := 0; images.IsIndexType(desc.MediaType); depth++ {
		if depth == 4 {
			return ocispec.Descriptor{}, fmt.Errorf("index %s nests too deep: %w", desc.Digest, errdefs.ErrInvalidArgument)
		}
		p, err := content.ReadBlob(ctx, cs, desc)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("read index %s: %w", desc.Digest, err)
		}
		var idx ocispec.Index
		if err := json.Unmarshal(p, &idx); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("decode index %s: %w", desc.Digest, err)
		}
		var best *ocispec.Descriptor
		for i := range idx.Manifests {
			d := &idx.Manifests[i]
			if d.Platform != nil && !platform.Match(*d.Platform) {
				continue
			}
			if best == nil || (d.Platform != nil && best.Platform != nil && platform.Less(*d.Platform, *best.Platform)) {
				best = d
			}
		}
		if best == nil {
			return ocispec.Descriptor{}, fmt.Errorf("index %s: no match for platform in manifest: %w", desc.Digest, errdefs.ErrNotFound)
		}
		desc = *best
	}
	return desc, nil
}

// target gathers what pull error messages need.
func (e *Engine) target(named reference.Named, auth *core.RegistryAuth) pullTarget {
	host := reference.Domain(named)
	t := pullTarget{ref: named.String(), host: host, insecure: e.insecure[strings.ToLower(host)]}
	if auth != nil && auth.Username != "" {
		t.auth, t.authHost = true, auth.Host
	}
	return t
}

// resolver reaches the hosts in InsecureRegistries over plain HTTP and every
// other host over HTTPS only, and offers auth's credentials to auth.Host
// alone.
func (e *Engine) resolver(auth *core.RegistryAuth) remotes.Resolver {
	return docker.NewResolver(docker.ResolverOptions{Hosts: e.registryHosts(auth)})
}

// registryHosts is how resolver reaches registries (scheme, client,
// credentials), for requests made without a resolver too.
func (e *Engine) registryHosts(auth *core.RegistryAuth) docker.RegistryHosts {
	creds := func(host string) (string, string, error) {
		if auth != nil && sameHost(auth.Host, host) {
			return auth.Username, auth.Password, nil
		}
		return "", "", nil
	}
	authorizer := docker.NewDockerAuthorizer(docker.WithAuthClient(e.http), docker.WithAuthCreds(creds))
	plainHTTP := func(host string) (bool, error) { return e.insecure[strings.ToLower(host)], nil }
	return docker.ConfigureDefaultRegistries(
		docker.WithPlainHTTP(plainHTTP),
		docker.WithAuthorizer(authorizer),
		docker.WithClient(e.http),
	)
}

// sameHost compares registry hosts, treating Docker Hub's aliases as one.
func sameHost(a, b string) bool {
	norm := func(h string) string {
		h = strings.ToLower(h)
		switch h {
		case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
			return "docker.io"
		}
		return h
	}
	return a != "" && norm(a) == norm(b)
}

// namingResolver resolves source but reports name as the resolved name, so
// client.Pull records the image directly under snapgate's name and never
// creates (or races on) a record named after the source. It also marks
// errors from the registry side for classifyPull.
type namingResolver struct {
	inner        remotes.Resolver
	source, name string
}

func (r *namingResolver) Resolve(ctx context.Context, ref string) (string, ocispec.Descriptor, error) {
	_, desc, err := r.inner.Resolve(ctx, r.upstream(ref))
	if err != nil {
		return "", ocispec.Descriptor{}, &registryError{err}
	}
	return r.name, desc, nil
}

func (r *namingResolver) Fetcher(ctx context.Context, ref string) (remotes.Fetcher, error) {
	f, err := r.inner.Fetcher(ctx, r.upstream(ref))
	if err != nil {
		return nil, &registryError{err}
	}
	return markingFetcher{f}, nil
}

// SetOptions passes client.Pull's download settings to the inner resolver.
func (r *namingResolver) SetOptions(options ...transfer.ImageResolverOption) {
	if ro, ok := r.inner.(remotes.ResolverWithOptions); ok {
		ro.SetOptions(options...)
	}
}

func (r *namingResolver) Pusher(ctx context.Context, ref string) (remotes.Pusher, error) {
	return nil, fmt.Errorf("engine: push through a pull resolver: %w", errdefs.ErrNotImplemented)
}

// upstream is the reference to ask the registry for.
func (r *namingResolver) upstream(ref string) string {
	if ref == r.name {
		return r.source
	}
	return ref
}

type markingFetcher struct{ inner remotes.Fetcher }

func (f markingFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := f.inner.Fetch(ctx, desc)
	if err != nil {
		return nil, &registryError{err}
	}
	return rc, nil
}
