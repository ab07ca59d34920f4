// Package coretest has fakes of core's ports for unit tests of core. The
// real engine and store have their own integration tests; these fakes only
// isolate core's rules (state machine, naming, tenancy, pull sharing).
package coretest

import (
	"context"
	"strings"
	"sync"

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

func (e *Engine) NormalizeReference(ref string) (string, error) {
	if ref == "" || strings.ContainsAny(ref, " A") {
		return "", core.Errorf(core.ErrInvalidArgument, "docker_image %q is not a valid image reference", ref)
	}
	if !strings.Contains(ref, ":") {
		ref += ":latest"
	}
	return ref, nil
}

func (e *Engine) Pull(ctx context.Context, req core.PullRequest) (core.PulledImage, error) {
	if e.Gate != nil {
		select {
		case <-e.Gate:
		case <-ctx.Done():
			return core.PulledImage{}, ctx.Err()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Pulls[req.Source]++
	if err := e.Fail[req.Source]; err != nil {
		return core.PulledImage{}, err
	}
	img := core.PulledImage{Digest: "sha256:" + strings.Repeat("a", 64), UnpackedBytes: e.Size}
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
func (e *Engine) DeleteRemoteImage(_ context.Context, ref string, _ *core.RegistryAuth) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Deleted = append(e.Deleted, ref)
	return e.DeleteErr
}

func (e *Engine) Ping(context.Context) error { return nil }
