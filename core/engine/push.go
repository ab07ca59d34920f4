package engine

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/snapgate/snapgate/core"
)

// PushImage copies image name to ref ("host/repo:tag"): the manifest for
// this host's platform (of a pulled multi-platform image only that one is
// present), its config and its layers, as they are stored, so the pushed
// manifest keeps the local digest and a pull elsewhere unpacks to the same
// snapshots. Blobs the repository already holds are not sent (a capture
// sends its new layer only). Credentials in auth go to auth.Host alone;
// hosts in InsecureRegistries are reached over plain HTTP.
// ErrInvalidArgument (ref), ErrNotFound (image, or the repository),
// ErrPermissionDenied, ErrUnavailable, ErrResourceExhausted.
func (e *Engine) PushImage(ctx context.Context, name, ref string, auth *core.RegistryAuth) (core.PushedImage, error) {
	ctx = e.withNS(ctx)
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return core.PushedImage{}, core.WithCause(core.ErrInvalidArgument, err, "push reference %q is invalid: %v", ref, err)
	}
	named = reference.TagNameOnly(named)
	img, err := e.client.ImageService().Get(ctx, name)
	if errdefs.IsNotFound(err) {
		return core.PushedImage{}, core.WithCause(core.ErrNotFound, err, "image %s to push is not on this server", name)
	}
	if err != nil {
		return core.PushedImage{}, classify(err, "push image "+name)
	}
	desc, err := platformManifest(ctx, e.client.ContentStore(), img.Target, platforms.Default())
	if err != nil {
		return core.PushedImage{}, classify(err, "push image "+name)
	}
	t := e.target(named, auth)
	r := &pushResolver{inner: e.resolver(auth)}
	if err := e.client.Push(ctx, named.String(), desc, containerd.WithResolver(r)); err != nil {
		return core.PushedImage{}, classifyPush(err, t, name)
	}
	return core.PushedImage{Digest: desc.Digest.String(), Bytes: r.sent.Load()}, nil
}

// DeleteRemoteImage deletes the manifest ref ("host/repo@digest") from its
// registry, with every tag on it. A manifest already gone is success.
// ErrInvalidArgument (no digest), ErrPermissionDenied (the registry refuses
// deletes, as many do by default), ErrUnavailable.
func (e *Engine) DeleteRemoteImage(ctx context.Context, ref string, auth *core.RegistryAuth) error {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return core.WithCause(core.ErrInvalidArgument, err, "reference %q is invalid: %v", ref, err)
	}
	canonical, ok := named.(reference.Canonical)
	if !ok {
		return core.Errorf(core.ErrInvalidArgument, "reference %q names no digest; only manifests are deleted by digest", ref)
	}
	t := e.target(named, auth)
	hosts, err := e.registryHosts(auth)(t.host)
	if err != nil || len(hosts) == 0 {
		return core.WithCause(core.ErrUnavailable, err, "registry %s has no usable address", t.host)
	}
	h := hosts[0]
	url := fmt.Sprintf("%s://%s%s/%s/manifests/%s", h.Scheme, h.Host, h.Path, reference.Path(named), canonical.Digest())
	ctx = docker.WithScope(ctx, "repository:"+reference.Path(named)+":delete")
	resp, err := e.deleteOnce(ctx, h, url, nil)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		// The first answer carries the challenge (basic or a token realm).
		if aerr := h.Authorizer.AddResponses(ctx, []*http.Response{resp}); aerr == nil {
			resp, err = e.deleteOnce(ctx, h, url, resp)
		}
	}
	if err != nil {
		return classifyRegistry(&registryError{err}, t)
	}
	defer resp.Body.Close()
	switch code := resp.StatusCode; {
	case code == http.StatusAccepted || code == http.StatusOK || code == http.StatusNoContent || code == http.StatusNotFound:
		return nil
	case code == http.StatusMethodNotAllowed || code == http.StatusBadRequest:
		return core.Errorf(core.ErrPermissionDenied, "registry %s does not allow deleting manifests (HTTP %d)", t.host, code)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return core.Errorf(core.ErrPermissionDenied, "registry %s refused to delete %s (HTTP %d): the account may not delete there", t.host, ref, code)
	}
	return core.Errorf(core.ErrUnavailable, "registry %s failed with HTTP %d while deleting %s", t.host, resp.StatusCode, ref)
}

// deleteOnce sends one DELETE, authorized as far as the authorizer knows
// how; prev, the answer it replaces, is closed.
func (e *Engine) deleteOnce(ctx context.Context, h docker.RegistryHost, url string, prev *http.Response) (*http.Response, error) {
	if prev != nil {
		_ = prev.Body.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, url, nil)
	if err != nil {
		return nil, err
	}
	if err := h.Authorizer.Authorize(ctx, req); err != nil {
		return nil, err
	}
	client := h.Client
	if client == nil {
		client = e.http
	}
	return client.Do(req)
}

// pushResolver hands client.Push a pusher that marks errors from the
// registry side for classifyPush and counts the bytes uploaded.
type pushResolver struct {
	inner remotes.Resolver
	sent  atomic.Int64
}

func (r *pushResolver) Resolve(ctx context.Context, ref string) (string, ocispec.Descriptor, error) {
	return r.inner.Resolve(ctx, ref)
}

func (r *pushResolver) Fetcher(ctx context.Context, ref string) (remotes.Fetcher, error) {
	return r.inner.Fetcher(ctx, ref)
}

func (r *pushResolver) Pusher(ctx context.Context, ref string) (remotes.Pusher, error) {
	p, err := r.inner.Pusher(ctx, ref)
	if err != nil {
		return nil, &registryError{err}
	}
	return &countingPusher{inner: p, sent: &r.sent}, nil
}

type countingPusher struct {
	inner remotes.Pusher
	sent  *atomic.Int64
}

// Push starts an upload; AlreadyExists (the registry has the blob) passes
// unmarked, as success.
func (p *countingPusher) Push(ctx context.Context, desc ocispec.Descriptor) (content.Writer, error) {
	w, err := p.inner.Push(ctx, desc)
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			return nil, err
		}
		return nil, &registryError{err}
	}
	return &countingWriter{Writer: w, size: desc.Size, sent: p.sent}, nil
}

// countingWriter marks the upload's errors as the registry's (reads of the
// local blob fail outside it) and counts a blob when it is committed.
type countingWriter struct {
	content.Writer
	size int64
	sent *atomic.Int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.Writer.Write(b)
	if err != nil {
		err = &registryError{err}
	}
	return n, err
}

func (w *countingWriter) Commit(ctx context.Context, size int64, expected digest.Digest, opts ...content.Opt) error {
	if err := w.Writer.Commit(ctx, size, expected, opts...); err != nil {
		if errdefs.IsAlreadyExists(err) {
			return err
		}
		return &registryError{err}
	}
	w.sent.Add(w.size)
	return nil
}
