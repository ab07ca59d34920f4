// Package coretest has fakes of core's ports for unit tests of core, and
// the conformance suite that keeps the engine fakes honest:
// RunEngineConformance runs on the fake Engine (with DataplaneEngine) here
// and on core/engine against a real containerd, so what core's tests see
// of an engine is what production does. The fakes isolate core's rules
// (state machine, naming, tenancy, pull sharing); they record no files in
// images and pull nothing (Fail programs a registry's refusals).
package coretest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/distribution/reference"

	"github.com/snapgate/snapgate/core"
)

// Engine is an in-memory core.Engine. Images named by Fail fail to pull
// with that error; Gate, when set, blocks every pull until closed.
type Engine struct {
	mu     sync.Mutex
	images map[string]core.PulledImage
	Pulls  map[string]int // pulls per source
	Fail   map[string]error
	Size   int64
	Gate   chan struct{}
	// StartErr makes StartSandbox fail; CaptureErr every capture of a
	// sandbox that exists.
	StartErr   error
	CaptureErr error
	// Warm lists, per image, ids of sandboxes prepared ahead of demand.
	Warm  map[string][]string
	boxes map[string]core.RuntimeState
	nets  map[string]core.NetworkPolicy
	stats map[string]core.SandboxStats // SetStats
	// Remote is the fake's registry: pushed references and their images.
	// PushErr makes every push fail; DeleteErr every remote delete.
	Remote    map[string]core.PulledImage
	PushErr   error
	DeleteErr error
	Deleted   []string // references DeleteRemoteImage was asked to delete
}

// NewEngine returns an empty fake engine whose images unpack to size bytes.
func NewEngine(size int64) *Engine {
	return &Engine{
		images: map[string]core.PulledImage{}, Pulls: map[string]int{}, Fail: map[string]error{}, Size: size,
		Warm: map[string][]string{}, Remote: map[string]core.PulledImage{},
	}
}

// NormalizeReference canonicalizes ref as docker does, like the real
// engine ("busybox" -> "docker.io/library/busybox:latest"; a digest wins
// over a tag). ErrInvalidArgument.
func (e *Engine) NormalizeReference(ref string) (string, error) {
	named, err := parseReference(ref)
	if err != nil {
		return "", err
	}
	return named.String(), nil
}

// maxReferenceLen is the real engine's bound on an image reference.
const maxReferenceLen = 512

func parseReference(ref string) (reference.Named, error) {
	if ref == "" {
		return nil, core.Errorf(core.ErrInvalidArgument, "docker_image is required")
	}
	if len(ref) > maxReferenceLen {
		return nil, core.Errorf(core.ErrInvalidArgument, "docker_image is %d characters long; at most %d are allowed", len(ref), maxReferenceLen)
	}
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return nil, core.WithCause(core.ErrInvalidArgument, err, "docker_image %q is not a valid image reference: %v", ref, err)
	}
	return named, nil
}

// digestOf is the fake's manifest digest of an image pulled from source:
// the digest a source pinned by digest names, else one derived from it,
// so distinct sources are distinct images and a pushed image pulled back
// by digest is the same one.
func digestOf(source reference.Named) string {
	if d, ok := source.(reference.Digested); ok {
		return d.Digest().String()
	}
	return sha256Of(source.String())
}

func sha256Of(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (e *Engine) Pull(ctx context.Context, req core.PullRequest) (core.PulledImage, error) {
	if e.Gate != nil {
		select {
		case <-e.Gate:
		case <-ctx.Done():
			return core.PulledImage{}, ctx.Err()
		}
	}
	if req.Name == "" {
		return core.PulledImage{}, core.Errorf(core.ErrInvalidArgument, "an image name is required to pull %s", req.Source)
	}
	source, err := parseReference(req.Source)
	if err != nil {
		return core.PulledImage{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Pulls[req.Source]++
	if err := e.Fail[req.Source]; err != nil {
		return core.PulledImage{}, err
	}
	img := core.PulledImage{Digest: digestOf(source), UnpackedBytes: e.Size}
	e.images[req.Name] = img
	return img, nil
}

func (e *Engine) TagImage(_ context.Context, from, to string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	img, ok := e.images[from]
	if !ok {
		return core.Errorf(core.ErrNotFound, "image %s not found", from)
	}
	e.images[to] = img
	return nil
}

func (e *Engine) RemoveImage(_ context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.images, name)
	return nil
}

func (e *Engine) ListImages(context.Context) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for n := range e.images {
		out = append(out, n)
	}
	return out, nil
}

// Has reports whether an image of that name exists.
func (e *Engine) Has(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.images[name]
	return ok
}

// PullCount returns how many pulls of source ran.
func (e *Engine) PullCount(source string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.Pulls[source]
}

// PushImage records image name under ref in Remote.
func (e *Engine) PushImage(_ context.Context, name, ref string, _ *core.RegistryAuth) (core.PushedImage, error) {
	if _, err := parseReference(ref); err != nil {
		return core.PushedImage{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	img, ok := e.images[name]
	switch {
	case !ok:
		return core.PushedImage{}, core.Errorf(core.ErrNotFound, "image %s not found", name)
	case e.PushErr != nil:
		return core.PushedImage{}, e.PushErr
	}
	e.Remote[ref] = img
	return core.PushedImage{Digest: img.Digest, Bytes: img.UnpackedBytes}, nil
}

// DeleteRemoteImage records ref in Deleted (and fails with DeleteErr).
// Like the real engine's, it deletes by digest only.
func (e *Engine) DeleteRemoteImage(_ context.Context, ref string, _ *core.RegistryAuth) error {
	named, err := parseReference(ref)
	if err != nil {
		return err
	}
	if _, ok := named.(reference.Digested); !ok {
		return core.Errorf(core.ErrInvalidArgument, "registry reference %s has no digest: only a manifest can be deleted", ref)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Deleted = append(e.Deleted, ref)
	return e.DeleteErr
}

func (e *Engine) Ping(context.Context) error { return nil }
