package coretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/core"
)

// ConformanceEngine is an engine under RunEngineConformance: images
// (core.Engine) and sandboxes (core.SandboxEngine).
type ConformanceEngine interface {
	core.Engine
	core.SandboxEngine
}

// ProcessStarter is the part of core.DataplaneEngine the suite drives.
type ProcessStarter interface {
	StartProcess(ctx context.Context, sandboxID string, spec core.ProcessSpec, stdout, stderr io.Writer) (core.RunningProcess, error)
}

// EngineEnv is one engine under test, made fresh for each case, and what
// the suite needs around it.
type EngineEnv struct {
	Engine ConformanceEngine
	// Processes runs commands in Engine's sandboxes (the engine itself, or
	// the fake's DataplaneEngine); nil skips the process cases.
	Processes ProcessStarter
	// Source is an image reference Pull accepts, of an image with a POSIX
	// shell, cat and sleep on its PATH.
	Source string
	// Missing is a well-formed reference whose registry has no such image.
	Missing string
	// PushRepo is a repository ("host/repo") that accepts pushes; "" skips
	// the push cases.
	PushRepo string
	// Stop makes sandbox id's task exit behind the engine's back and keeps
	// its container: what a host or containerd restart leaves.
	Stop func(t *testing.T, id string)
}

// RunEngineConformance checks what core relies on from an engine: image
// names and errors, pull/tag/remove, the sandbox lifecycle and its
// idempotence, capture in every state, processes, and the error kind of
// each refusal. The real engine (core/engine) and the fake (Engine) both
// pass it; where they differ, the real engine is right. newEnv is called
// once per case, which may run in parallel with the others.
func RunEngineConformance(t *testing.T, newEnv func(t *testing.T) EngineEnv) {
	cases := []struct {
		name string
		run  func(t *testing.T, env EngineEnv)
	}{
		{"NormalizeReference", testNormalizeReference},
		{"PullTagRemove", testPullTagRemove},
		{"PullErrors", testPullErrors},
		{"Push", testPush},
		{"StartKill", testStartKill},
		{"StartErrors", testStartErrors},
		{"PauseResume", testPauseResume},
		{"MissingSandbox", testMissingSandbox},
		{"StoppedSandbox", testStoppedSandbox},
		{"Capture", testCapture},
		{"CaptureRefusals", testCaptureRefusals},
		{"Processes", testProcesses},
		{"ProcessSignals", testProcessSignals},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newEnv(t))
		})
	}
}

// digestPattern is what a manifest digest looks like.
var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// uniqueName is an engine image name of this test.
func uniqueName(t *testing.T, what string) string {
	return core.ImageRefFor("conformance-" + strings.NewReplacer("/", "-", " ", "-").Replace(strings.ToLower(t.Name())) + "-" + what)
}

// wantKind fails unless err is of kind (nil: no error).
func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	switch {
	case kind == nil && err != nil:
		t.Errorf("%s = %v, want success", what, err)
	case kind != nil && !errors.Is(err, kind):
		t.Errorf("%s = %v, want %v", what, err, kind)
	case kind != nil && core.PublicMessage(err) == "":
		t.Errorf("%s = %v: no message for the client", what, err)
	}
}

// pull pulls env.Source as name.
func pull(t *testing.T, env EngineEnv, name string) core.PulledImage {
	t.Helper()
	img, err := env.Engine.Pull(t.Context(), core.PullRequest{Name: name, Source: env.Source})
	if err != nil {
		t.Fatalf("Pull(%s as %s): %v", env.Source, name, err)
	}
	return img
}

// wantImages checks which of names the engine holds.
func wantImages(t *testing.T, env EngineEnv, present, absent []string) {
	t.Helper()
	names, err := env.Engine.ListImages(t.Context())
	if err != nil {
		t.Fatalf("ListImages: %v", err)
	}
	for _, n := range present {
		if !slices.Contains(names, n) {
			t.Errorf("ListImages = %v; want %s in it", names, n)
		}
	}
	for _, n := range absent {
		if slices.Contains(names, n) {
			t.Errorf("ListImages = %v; want no %s", names, n)
		}
	}
}

// start pulls env.Source and starts a sandbox from it; it returns the id.
func start(t *testing.T, env EngineEnv) string {
	t.Helper()
	id, image := sandboxID(), uniqueName(t, "base")
	pull(t, env, image)
	if err := env.Engine.StartSandbox(t.Context(), spec(id, image)); err != nil {
		t.Fatalf("StartSandbox(%s): %v", id, err)
	}
	t.Cleanup(func() { _ = env.Engine.KillSandbox(context.WithoutCancel(t.Context()), id) })
	return id
}

// sandboxID is a fresh sandbox id.
func sandboxID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "sb-" + hex.EncodeToString(b)
}

func spec(id, image string) core.SandboxSpec {
	return core.SandboxSpec{ID: id, Image: image, VCPUs: 1, MemoryBytes: 256 << 20, Hostname: "conformance"}
}

func wantState(t *testing.T, env EngineEnv, id string, want core.RuntimeState) {
	t.Helper()
	got, err := env.Engine.SandboxState(t.Context(), id)
	if err != nil || got != want {
		t.Errorf("SandboxState(%s) = %q, %v; want %q", id, got, err, want)
	}
}

func wantListed(t *testing.T, env EngineEnv, id string, listed bool) {
	t.Helper()
	ids, err := env.Engine.ListSandboxContainers(t.Context())
	if err != nil {
		t.Fatalf("ListSandboxContainers: %v", err)
	}
	if slices.Contains(ids, id) != listed {
		t.Errorf("ListSandboxContainers = %v; want %s listed: %v", ids, id, listed)
	}
}
