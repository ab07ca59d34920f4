package coretest

import (
	"context"

	"github.com/snapgate/snapgate/core"
)

// Sandbox engine half of the fake: a map of sandbox id to runtime state.
// StartErr, when set, makes every start fail.

func (e *Engine) sandboxes() map[string]core.RuntimeState {
	if e.boxes == nil {
		e.boxes = map[string]core.RuntimeState{}
	}
	return e.boxes
}

func (e *Engine) StartSandbox(_ context.Context, spec core.SandboxSpec) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.StartErr != nil {
		return e.StartErr
	}
	if _, ok := e.images[spec.Image]; !ok {
		return core.Errorf(core.ErrNotFound, "image %s not found", spec.Image)
	}
	e.sandboxes()[spec.ID] = core.RuntimeRunning
	return nil
}

// ReserveWarm hands out (and forgets) one of Warm[image], running as a
// sandbox already, as the real engine's warm pool does.
func (e *Engine) ReserveWarm(_ context.Context, image string, _ int64) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := e.Warm[image]
	if len(ids) == 0 {
		return ""
	}
	e.Warm[image] = ids[1:]
	e.sandboxes()[ids[0]] = core.RuntimeRunning
	return ids[0]
}

func (e *Engine) setState(id string, from, to core.RuntimeState) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.sandboxes()[id]
	if !ok {
		return core.Errorf(core.ErrNotFound, "sandbox %s not found", id)
	}
	if st == from {
		e.sandboxes()[id] = to
	}
	return nil
}

func (e *Engine) PauseSandbox(_ context.Context, id string) error {
	return e.setState(id, core.RuntimeRunning, core.RuntimePaused)
}

func (e *Engine) ResumeSandbox(_ context.Context, id string) error {
	return e.setState(id, core.RuntimePaused, core.RuntimeRunning)
}

func (e *Engine) KillSandbox(_ context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.sandboxes(), id)
	return nil
}

// Crash makes a sandbox's task vanish behind core's back.
func (e *Engine) Crash(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.sandboxes(), id)
}

func (e *Engine) SandboxState(_ context.Context, id string) (core.RuntimeState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if st, ok := e.sandboxes()[id]; ok {
		return st, nil
	}
	return core.RuntimeMissing, nil
}

func (e *Engine) ListSandboxContainers(context.Context) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []string
	for id := range e.sandboxes() {
		ids = append(ids, id)
	}
	return ids, nil
}

func (e *Engine) CaptureSandbox(_ context.Context, req core.CaptureRequest) (core.CapturedImage, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.sandboxes()[req.SandboxID]; !ok {
		return core.CapturedImage{}, core.Errorf(core.ErrNotFound, "sandbox %s not found", req.SandboxID)
	}
	if e.CaptureErr != nil {
		return core.CapturedImage{}, e.CaptureErr
	}
	img := core.PulledImage{Digest: "sha256:" + req.Name, UnpackedBytes: e.Size + 1}
	e.images[req.Name] = img
	return core.CapturedImage{Digest: img.Digest, UnpackedBytes: img.UnpackedBytes}, nil
}

func (e *Engine) MemorySnapshots() bool { return false }
