package coretest

import (
	"testing"

	"github.com/snapgate/snapgate/core"
)

// Start and kill converge: core retries both after crashes and timeouts.
func testStartKill(t *testing.T, env EngineEnv) {
	ctx := t.Context()
	image := uniqueName(t, "base")
	pull(t, env, image)
	id := sandboxID()
	for range 2 { // starting a running sandbox is success
		if err := env.Engine.StartSandbox(ctx, spec(id, image)); err != nil {
			t.Fatalf("StartSandbox: %v", err)
		}
	}
	wantState(t, env, id, core.RuntimeRunning)
	wantListed(t, env, id, true)
	if got := env.Engine.ReserveWarm(ctx, image, 0); got != "" {
		t.Errorf("ReserveWarm with nothing prepared = %q, want \"\"", got)
	}
	for range 2 { // killing a killed sandbox is success
		if err := env.Engine.KillSandbox(ctx, id); err != nil {
			t.Fatalf("KillSandbox: %v", err)
		}
	}
	wantState(t, env, id, core.RuntimeMissing)
	wantListed(t, env, id, false)
	// The image a sandbox was started from can go once it is killed.
	if err := env.Engine.RemoveImage(ctx, image); err != nil {
		t.Errorf("RemoveImage after the kill: %v", err)
	}
}

// A refused start leaves nothing behind.
func testStartErrors(t *testing.T, env EngineEnv) {
	ctx := t.Context()
	id := sandboxID()
	wantKind(t, "StartSandbox from a missing image",
		env.Engine.StartSandbox(ctx, spec(id, uniqueName(t, "missing"))), core.ErrNotFound)
	wantState(t, env, id, core.RuntimeMissing)
	wantListed(t, env, id, false)
	image := uniqueName(t, "base")
	pull(t, env, image)
	wantKind(t, "StartSandbox without an id", env.Engine.StartSandbox(ctx, spec("", image)), core.ErrInvalidArgument)
	wantKind(t, "StartSandbox without an image", env.Engine.StartSandbox(ctx, spec(id, "")), core.ErrInvalidArgument)
	wantListed(t, env, id, false)
}

// Pause and resume are idempotent; a start of a paused sandbox keeps it
// paused; a paused sandbox still dies.
func testPauseResume(t *testing.T, env EngineEnv) {
	ctx := t.Context()
	id := start(t, env)
	for range 2 {
		if err := env.Engine.PauseSandbox(ctx, id); err != nil {
			t.Fatalf("PauseSandbox: %v", err)
		}
	}
	wantState(t, env, id, core.RuntimePaused)
	// A frozen cgroup still reads: metrics of a paused sandbox work.
	if _, err := env.Engine.SandboxStats(ctx, id); err != nil {
		t.Errorf("SandboxStats of a paused sandbox: %v", err)
	}
	if err := env.Engine.StartSandbox(ctx, spec(id, uniqueName(t, "base"))); err != nil {
		t.Errorf("StartSandbox of a paused sandbox: %v", err)
	}
	wantState(t, env, id, core.RuntimePaused)
	wantProcessRefused(t, env, id, core.ErrFailedPrecondition)
	for range 2 {
		if err := env.Engine.ResumeSandbox(ctx, id); err != nil {
			t.Fatalf("ResumeSandbox: %v", err)
		}
	}
	wantState(t, env, id, core.RuntimeRunning)
	if err := env.Engine.PauseSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := env.Engine.KillSandbox(ctx, id); err != nil {
		t.Fatalf("KillSandbox of a paused sandbox: %v", err)
	}
	wantState(t, env, id, core.RuntimeMissing)
}

// Every operation on a sandbox the engine does not have is ErrNotFound,
// except those that converge (kill) or report (state).
func testMissingSandbox(t *testing.T, env EngineEnv) {
	ctx := t.Context()
	id := sandboxID()
	wantKind(t, "PauseSandbox", env.Engine.PauseSandbox(ctx, id), core.ErrNotFound)
	wantKind(t, "ResumeSandbox", env.Engine.ResumeSandbox(ctx, id), core.ErrNotFound)
	_, err := env.Engine.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: id, Name: uniqueName(t, "capture")})
	wantKind(t, "CaptureSandbox", err, core.ErrNotFound)
	_, err = env.Engine.SandboxStats(ctx, id)
	wantKind(t, "SandboxStats", err, core.ErrNotFound)
	wantKind(t, "KillSandbox", env.Engine.KillSandbox(ctx, id), nil)
	wantState(t, env, id, core.RuntimeMissing)
	wantProcessRefused(t, env, id, core.ErrNotFound)
	wantImages(t, env, nil, []string{uniqueName(t, "capture")})
}

// A sandbox whose task died is stopped: it cannot be paused, resumed or
// run commands, its files can be captured, and a start gives it a new task.
func testStoppedSandbox(t *testing.T, env EngineEnv) {
	ctx := t.Context()
	id := start(t, env)
	env.Stop(t, id)
	wantState(t, env, id, core.RuntimeStopped)
	wantListed(t, env, id, true)
	wantKind(t, "PauseSandbox of a stopped sandbox", env.Engine.PauseSandbox(ctx, id), core.ErrFailedPrecondition)
	wantKind(t, "ResumeSandbox of a stopped sandbox", env.Engine.ResumeSandbox(ctx, id), core.ErrFailedPrecondition)
	wantProcessRefused(t, env, id, core.ErrFailedPrecondition)
	_, err := env.Engine.SandboxStats(ctx, id)
	wantKind(t, "SandboxStats of a stopped sandbox", err, core.ErrFailedPrecondition)
	captured := uniqueName(t, "capture")
	if _, err := env.Engine.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: id, Name: captured}); err != nil {
		t.Errorf("CaptureSandbox of a stopped sandbox: %v", err)
	}
	wantState(t, env, id, core.RuntimeStopped)
	wantImages(t, env, []string{captured}, nil)
	if err := env.Engine.StartSandbox(ctx, spec(id, uniqueName(t, "base"))); err != nil {
		t.Fatalf("StartSandbox of a stopped sandbox: %v", err)
	}
	wantState(t, env, id, core.RuntimeRunning)
	if err := env.Engine.KillSandbox(ctx, id); err != nil {
		t.Errorf("KillSandbox: %v", err)
	}
	wantListed(t, env, id, false)
}

// A capture records a new image that starts sandboxes, and leaves the
// sandbox in the state it found it (running or paused).
func testCapture(t *testing.T, env EngineEnv) {
	ctx := t.Context()
	id := start(t, env)
	running := uniqueName(t, "running")
	img, err := env.Engine.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: id, Name: running})
	if err != nil {
		t.Fatalf("CaptureSandbox: %v", err)
	}
	if !digestPattern.MatchString(img.Digest) || img.UnpackedBytes <= 0 || img.MemoryBytes != nil {
		t.Errorf("CaptureSandbox = %+v; want a sha256 digest, the unpacked size and no memory", img)
	}
	wantState(t, env, id, core.RuntimeRunning)
	wantImages(t, env, []string{running}, nil)

	child := sandboxID()
	if err := env.Engine.StartSandbox(ctx, spec(child, running)); err != nil {
		t.Fatalf("StartSandbox from a capture: %v", err)
	}
	wantState(t, env, child, core.RuntimeRunning)
	if err := env.Engine.KillSandbox(ctx, child); err != nil {
		t.Error(err)
	}

	if err := env.Engine.PauseSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}
	paused := uniqueName(t, "paused")
	if _, err := env.Engine.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: id, Name: paused}); err != nil {
		t.Errorf("CaptureSandbox of a paused sandbox: %v", err)
	}
	wantState(t, env, id, core.RuntimePaused)
	wantImages(t, env, []string{paused}, nil)
}

// Refused captures record no image and leave the sandbox running.
func testCaptureRefusals(t *testing.T, env EngineEnv) {
	ctx := t.Context()
	id := start(t, env)
	name := uniqueName(t, "capture")
	if !env.Engine.MemorySnapshots() {
		_, err := env.Engine.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: id, Name: name, Memory: true})
		wantKind(t, "memory CaptureSandbox where MemorySnapshots is false", err, core.ErrFailedPrecondition)
	}
	_, err := env.Engine.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: id})
	wantKind(t, "CaptureSandbox without a name", err, core.ErrInvalidArgument)
	_, err = env.Engine.CaptureSandbox(ctx, core.CaptureRequest{Name: name})
	wantKind(t, "CaptureSandbox without a sandbox", err, core.ErrInvalidArgument)
	wantState(t, env, id, core.RuntimeRunning)
	wantImages(t, env, nil, []string{name})
}
