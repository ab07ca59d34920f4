package core_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// A sandbox row left starting by a process of this node that died (kill
// -9 between creating the container and recording it running) is failed
// with a reason at the next reconcile, and its container removed.
func TestReconcileFailsStartAbandonedByDeadProcess(t *testing.T) {
	e := newBoxEnv(t)
	now := time.Now().UTC()
	dead := &core.Sandbox{
		ID: "ideadprocess000000001", TenantID: "tenant-a", Name: "dead", SnapshotID: e.snap.ID,
		State: core.SandboxStarting, Node: "node-1", VCPUs: 1, MemoryBytes: 512 << 20,
		AccessToken: "token", CreatedAt: now, UpdatedAt: now,
	}
	if err := e.store.CreateSandbox(t.Context(), dead); err != nil {
		t.Fatal(err)
	}
	if err := e.eng.StartSandbox(t.Context(), core.SandboxSpec{ID: dead.ID, Image: e.snap.ImageRef}); err != nil {
		t.Fatal(err)
	}
	e.boxes.Reconcile(t.Context())
	got, err := e.store.GetSandbox(t.Context(), "", dead.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != core.SandboxFailed || !strings.Contains(got.StatusMessage, "stopped while starting") {
		t.Errorf("abandoned start recorded as %s %q, want failed with a reason", got.State, got.StatusMessage)
	}
	if ids, _ := e.eng.ListSandboxContainers(t.Context()); len(ids) != 0 {
		t.Errorf("engine still holds %v", ids)
	}
}

// A running sandbox its engine reports frozen (a capture's process died
// between freeze and thaw) is thawed by reconcile, not reported lost.
func TestReconcileThawsSandboxLeftFrozenByCapture(t *testing.T) {
	e := newBoxEnv(t)
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.eng.PauseSandbox(t.Context(), sb.ID); err != nil {
		t.Fatal(err)
	}
	e.boxes.Reconcile(t.Context())
	if st, _ := e.eng.SandboxState(t.Context(), sb.ID); st != core.RuntimeRunning {
		t.Errorf("engine state after reconcile: %s, want running", st)
	}
	if got, err := e.boxes.Get(e.ctx, sb.ID); err != nil || got.State != core.SandboxRunning {
		t.Errorf("sandbox after reconcile: %+v %v, want running", got, err)
	}
}

// Periodic passes thaw a running sandbox left frozen too (after seeing it
// frozen twice, so a pause in flight is not undone), never fail it as lost.
func TestPeriodicReconcileThawsSandboxLeftFrozen(t *testing.T) {
	e := newEnv(t, "node-1")
	boxes, err := core.NewSandboxes(core.SandboxesOptions{
		Store: e.store, Engine: e.eng, Snapshots: e.svc, Node: "node-1",
		Logger: slog.New(slog.DiscardHandler), ReconcileInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.run(t)
	s, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "py", DockerImage: image, FSCapacityBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFinal(t, s.ID)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { boxes.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	sb, err := boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.eng.PauseSandbox(t.Context(), sb.ID); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, _ := e.eng.SandboxState(t.Context(), sb.ID); st == core.RuntimeRunning {
			break
		}
	}
	if st, _ := e.eng.SandboxState(t.Context(), sb.ID); st != core.RuntimeRunning {
		t.Errorf("engine state: %s, want running again", st)
	}
	if got, err := boxes.Get(e.ctx, sb.ID); err != nil || got.State != core.SandboxRunning {
		t.Errorf("sandbox: %+v %v, want running", got, err)
	}
}
