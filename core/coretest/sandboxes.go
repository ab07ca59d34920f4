package coretest

import (
	"context"

	"github.com/snapgate/snapgate/core"
)

// Sandbox engine half of the fake: a map of sandbox id to runtime state.
// StartErr, when set, makes every start fail. RunEngineConformance pins
// what it shares with the real engine.

func (e *Engine) sandboxes() map[string]core.RuntimeState {
	if e.boxes == nil {
		e.boxes = map[string]core.RuntimeState{}
	}
	return e.boxes
}

func (e *Engine) StartSandbox(_ context.Context, spec core.SandboxSpec) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if spec.ID == "" || spec.Image == "" {
		return core.Errorf(core.ErrInvalidArgument, "a sandbox needs an id and an image")
	}
	if e.StartErr != nil {
		return e.StartErr
	}
	// An existing sandbox keeps a live task as it is (paused stays
	// paused); a stopped one gets a new task.
	if st, ok := e.sandboxes()[spec.ID]; ok {
		if st == core.RuntimeStopped {
			e.sandboxes()[spec.ID] = core.RuntimeRunning
			e.networks()[spec.ID] = spec.Network
		}
		return nil
	}
	if _, ok := e.images[spec.Image]; !ok {
		return core.Errorf(core.ErrNotFound, "image %s not found", spec.Image)
	}
	e.sandboxes()[spec.ID] = core.RuntimeRunning
	e.networks()[spec.ID] = spec.Network
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

// setState moves a sandbox from `from` to `to`; one already in `to` is
// success, one without a live task ErrFailedPrecondition.
func (e *Engine) setState(id string, from, to core.RuntimeState) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.sandboxes()[id]
	switch {
	case !ok:
		return core.Errorf(core.ErrNotFound, "sandbox %s not found", id)
	case st == core.RuntimeStopped:
		return core.Errorf(core.ErrFailedPrecondition, "sandbox %s is not running", id)
	case st == from:
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
	delete(e.networks(), id)
	delete(e.stats, id)
	return nil
}

// Crash makes a sandbox's task vanish behind core's back.
func (e *Engine) Crash(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.sandboxes(), id)
}

// Stop makes a sandbox's task exit and keeps its container, as a host or
// containerd restart leaves it (RuntimeStopped).
func (e *Engine) Stop(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.sandboxes()[id]; ok {
		e.sandboxes()[id] = core.RuntimeStopped
	}
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

// CaptureSandbox records a new image for a sandbox in any state (a
// stopped one too), leaving the state as it was. The image's digest
// derives from its name; no files are recorded.
func (e *Engine) CaptureSandbox(_ context.Context, req core.CaptureRequest) (core.CapturedImage, error) {
	if req.Memory {
		return core.CapturedImage{}, core.Errorf(core.ErrFailedPrecondition,
			"this server cannot capture a sandbox's memory (CRIU is unavailable on this host): capture the sandbox without memory")
	}
	if req.SandboxID == "" || req.Name == "" {
		return core.CapturedImage{}, core.Errorf(core.ErrInvalidArgument, "a capture needs a sandbox id and an image name")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.sandboxes()[req.SandboxID]; !ok {
		return core.CapturedImage{}, core.Errorf(core.ErrNotFound, "sandbox %s not found", req.SandboxID)
	}
	if e.CaptureErr != nil {
		return core.CapturedImage{}, e.CaptureErr
	}
	img := core.PulledImage{Digest: sha256Of("capture " + req.Name), UnpackedBytes: e.Size + 1}
	e.images[req.Name] = img
	return core.CapturedImage{Digest: img.Digest, UnpackedBytes: img.UnpackedBytes}, nil
}

func (e *Engine) MemorySnapshots() bool { return false }
