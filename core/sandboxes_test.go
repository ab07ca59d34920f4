package core_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

type boxEnv struct {
	*env
	boxes *core.Sandboxes
	snap  *core.Snapshot
}

// newBoxEnv is a sandbox service over the fakes with a ready snapshot
// "py"; clock, when given, is the service's clock.
func newBoxEnv(t *testing.T, clock ...core.Clock) *boxEnv {
	t.Helper()
	e := newEnv(t, "node-1")
	opt := core.SandboxesOptions{
		Store: e.store, Engine: e.eng, Snapshots: e.svc, Node: "node-1",
		Logger: slog.New(slog.DiscardHandler), DefaultImage: image,
	}
	if len(clock) > 0 {
		opt.Clock = clock[0]
	}
	boxes, err := core.NewSandboxes(opt)
	if err != nil {
		t.Fatal(err)
	}
	e.run(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { boxes.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	s, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "py", DockerImage: image, FSCapacityBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	return &boxEnv{env: e, boxes: boxes, snap: e.waitFinal(t, s.ID)}
}

func TestSandboxLifecycle(t *testing.T) {
	e := newBoxEnv(t)
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py", Metadata: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if sb.State != core.SandboxRunning || len(sb.ID) != 21 || sb.ID[0] != 'i' || sb.AccessToken == "" {
		t.Fatalf("created %+v", sb)
	}
	if st, _ := e.eng.SandboxState(t.Context(), sb.ID); st != core.RuntimeRunning {
		t.Errorf("engine state %s", st)
	}
	if err := e.boxes.Pause(e.ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.boxes.Pause(e.ctx, sb.ID); !errors.Is(err, core.ErrFailedPrecondition) {
		t.Errorf("second pause: %v, want ErrFailedPrecondition", err)
	}
	got, wasPaused, err := e.boxes.Resume(e.ctx, sb.ID, time.Minute)
	if err != nil || !wasPaused || got.State != core.SandboxRunning {
		t.Fatalf("resume: %+v %v %v", got, wasPaused, err)
	}
	if _, wasPaused, _ = e.boxes.Resume(e.ctx, sb.ID, time.Minute); wasPaused {
		t.Error("resume of a running sandbox reported it paused")
	}
	other := core.WithPrincipal(t.Context(), core.Principal{TenantID: "tenant-b"})
	if _, err := e.boxes.Get(other, sb.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("other tenant get: %v", err)
	}
	if err := e.boxes.Kill(other, sb.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("other tenant kill: %v", err)
	}
	if err := e.boxes.Kill(e.ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.boxes.Get(e.ctx, sb.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("get after kill: %v", err)
	}
	if err := e.boxes.Kill(e.ctx, sb.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("second kill: %v", err)
	}
	if st, _ := e.eng.SandboxState(t.Context(), sb.ID); st != core.RuntimeMissing {
		t.Errorf("engine still has killed sandbox: %s", st)
	}
}

func TestSandboxFromMissingOrFailedSnapshot(t *testing.T) {
	e := newBoxEnv(t)
	if _, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "nope"}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("unknown snapshot: %v", err)
	}
	e.eng.Fail["registry.test/broken:latest"] = core.Errorf(core.ErrNotFound, "image not found in its registry")
	s, _ := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "broken", DockerImage: "registry.test/broken:latest", FSCapacityBytes: 1 << 30})
	e.waitFinal(t, s.ID)
	_, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: s.ID})
	if !errors.Is(err, core.ErrFailedPrecondition) || !strings.Contains(core.PublicMessage(err), "failed to build") {
		t.Errorf("failed snapshot: %v", err)
	}
}

func TestDefaultSnapshotIsBuiltOnFirstUse(t *testing.T) {
	e := newBoxEnv(t)
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	base, err := e.svc.Get(e.ctx, core.DefaultSnapshotName)
	if err != nil || base.Status != core.SnapshotReady || sb.SnapshotID != base.ID {
		t.Errorf("base snapshot %+v (%v), sandbox snapshot %s", base, err, sb.SnapshotID)
	}
}

func TestStartFailureIsRecorded(t *testing.T) {
	e := newBoxEnv(t)
	e.eng.StartErr = errors.New("runc exploded")
	_, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	list, _ := e.boxes.List(e.ctx, core.SandboxFilter{})
	if len(list) != 0 {
		t.Errorf("a sandbox that failed to start is listed: %+v", list[0])
	}
}

// A start the engine refuses is the server failing (unavailable), whatever
// kind the engine gave: an image missing on this node is no missing
// sandbox. Only the server out of room stays ErrResourceExhausted.
func TestStartFailureKinds(t *testing.T) {
	e := newBoxEnv(t)
	cases := []struct {
		name  string
		cause error
		want  error
	}{
		{"image not on this node", core.Errorf(core.ErrNotFound, "the image of sandbox i1 is not on this server"), core.ErrUnavailable},
		{"engine in the wrong state", core.Errorf(core.ErrFailedPrecondition, "start sandbox i1: the engine is not in a state to do it"), core.ErrUnavailable},
		{"engine refused its own request", core.Errorf(core.ErrInvalidArgument, "a sandbox needs an id and an image"), core.ErrUnavailable},
		{"unclassified", errors.New("runc exploded"), core.ErrUnavailable},
		{"no room on the server", core.Errorf(core.ErrResourceExhausted, "this server has no user id range left for another sandbox"), core.ErrResourceExhausted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.eng.StartErr = tc.cause
			_, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
			if got := core.KindOf(err); got != tc.want {
				t.Errorf("Create's kind = %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}

// A failed capture keeps the engine's kind only where it speaks of the
// sandbox or the server's space; the rest is the server's storage failing.
func TestCaptureFailureKinds(t *testing.T) {
	e := newBoxEnv(t)
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		cause error
		want  error
	}{
		{"layer over its bound", core.Errorf(core.ErrFailedPrecondition, "the sandbox's changes would take more than 1 bytes"), core.ErrFailedPrecondition},
		{"server disk full", core.Errorf(core.ErrResourceExhausted, "no space left on the server"), core.ErrResourceExhausted},
		{"sandbox killed meanwhile", core.Errorf(core.ErrNotFound, "sandbox was killed while it was being captured"), core.ErrNotFound},
		{"engine refused its own request", core.Errorf(core.ErrInvalidArgument, "capture sandbox: invalid argument"), core.ErrUnavailable},
		{"unclassified", errors.New("tar exploded"), core.ErrUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.eng.CaptureErr = tc.cause
			_, err := e.boxes.Capture(e.ctx, sb.ID, core.CaptureSnapshotRequest{})
			if got := core.KindOf(err); got != tc.want {
				t.Errorf("Capture's kind = %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}

func TestCreateAdoptsWarmSandbox(t *testing.T) {
	e := newBoxEnv(t)
	e.eng.Warm[e.snap.ImageRef] = []string{"iwarm0000000000000001", "iwarm0000000000000002"}
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	if sb.ID != "iwarm0000000000000001" || sb.Name != sb.ID || sb.State != core.SandboxRunning {
		t.Errorf("created %s (name %s, %s), want the warm sandbox, running", sb.ID, sb.Name, sb.State)
	}
	// A create that fails after taking a warm sandbox gives it back (kills it).
	if _, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py", Name: sb.ID}); !errors.Is(err, core.ErrAlreadyExists) {
		t.Fatalf("create with a taken name: %v, want ErrAlreadyExists", err)
	}
	if st, _ := e.eng.SandboxState(t.Context(), "iwarm0000000000000002"); st != core.RuntimeMissing {
		t.Errorf("released warm sandbox is %s, want killed", st)
	}
}

func TestTimeoutKillsOrPauses(t *testing.T) {
	e := newBoxEnv(t)
	killed, _ := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py", Timeout: time.Second})
	paused, _ := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py", Timeout: time.Second, OnTimeout: core.TimeoutPause})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, kerr := e.boxes.Get(e.ctx, killed.ID)
		p, _ := e.boxes.Get(e.ctx, paused.ID)
		if errors.Is(kerr, core.ErrNotFound) && p != nil && p.State == core.SandboxPaused {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Error("timeouts did not kill / pause the sandboxes within 5s")
}

func TestLostSandboxIsNeverReportedRunning(t *testing.T) {
	e := newBoxEnv(t)
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	e.eng.Crash(sb.ID)
	e.boxes.Reconcile(t.Context())
	if _, err := e.boxes.Get(e.ctx, sb.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("lost sandbox still reported: %v", err)
	}
	got, _ := e.store.GetSandbox(t.Context(), "", sb.ID)
	if got.State != core.SandboxFailed || !strings.Contains(got.StatusMessage, "lost") {
		t.Errorf("lost sandbox recorded as %s %q", got.State, got.StatusMessage)
	}
}

func TestCaptureMakesAReadySnapshot(t *testing.T) {
	e := newBoxEnv(t)
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := e.boxes.Capture(e.ctx, sb.ID, core.CaptureSnapshotRequest{Name: "tenant-a/cap", Namespaced: true, Tag: "default", Retag: true})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Status != core.SnapshotReady || snap.SourceSandboxID != sb.ID || snap.Name != "cap" || snap.Tag != "default" {
		t.Errorf("captured %+v", snap)
	}
	again, err := e.boxes.Capture(e.ctx, sb.ID, core.CaptureSnapshotRequest{Name: "cap", Namespaced: true, Tag: "default", Retag: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.Lookup(e.ctx, "tenant-a/cap:default"); got == nil || got.ID != again.ID {
		t.Errorf("cap:default resolves to %+v, want the newer capture %s", got, again.ID)
	}
	if _, err := e.boxes.Capture(e.ctx, sb.ID, core.CaptureSnapshotRequest{Name: "other/cap", Namespaced: true}); !errors.Is(err, core.ErrInvalidArgument) {
		t.Errorf("foreign namespace: %v", err)
	}
	tagged, err := e.boxes.Capture(e.ctx, sb.ID, core.CaptureSnapshotRequest{Name: " Tenant-A/Cap:V2 ", Namespaced: true, Tag: "default", Retag: true})
	if err != nil || tagged.Name != "cap" || tagged.Tag != "v2" {
		t.Errorf("E2B name with a tag: %+v, %v; want cap:v2", tagged, err)
	}
	for _, name := range []string{"cap:" + someID, someID, ":v1", "cap:a b"} {
		if _, err := e.boxes.Capture(e.ctx, sb.ID, core.CaptureSnapshotRequest{Name: name, Namespaced: true, Tag: "default", Retag: true}); !errors.Is(err, core.ErrInvalidArgument) {
			t.Errorf("E2B name %q: %v, want ErrInvalidArgument", name, err)
		}
	}
	if _, err := e.boxes.Capture(e.ctx, sb.ID, core.CaptureSnapshotRequest{Name: "py", Tag: "latest"}); !errors.Is(err, core.ErrAlreadyExists) {
		t.Errorf("LangSmith capture onto an existing name: %v", err)
	}
	if _, err := e.boxes.Capture(e.ctx, sb.ID, core.CaptureSnapshotRequest{Name: "mem", Memory: true}); !errors.Is(err, core.ErrFailedPrecondition) {
		t.Errorf("memory capture on a host without CRIU: %v", err)
	}
	from, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: again.ID + ":default"})
	if err != nil || from.SnapshotID != again.ID {
		t.Errorf("sandbox from capture: %+v %v", from, err)
	}
}
