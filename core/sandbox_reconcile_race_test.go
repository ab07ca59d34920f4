package core_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
)

// pausedListEngine holds the first ListSandboxContainers until released,
// so a sandbox can be created between reconcile's two listings.
type pausedListEngine struct {
	*coretest.Engine
	entered, release chan struct{}
	once             sync.Once
}

func (e *pausedListEngine) ListSandboxContainers(ctx context.Context) ([]string, error) {
	e.once.Do(func() { close(e.entered); <-e.release })
	return e.Engine.ListSandboxContainers(ctx)
}

// A sandbox created while a reconcile pass runs (its row written after the
// pass listed rows, its container before the pass listed containers) is
// not taken for an orphan and killed under its running record. Found by
// TestLoad (cmd/snapgate) with 50 concurrent creates.
func TestReconcileKeepsSandboxCreatedDuringPass(t *testing.T) {
	e := newEnv(t, "node-1")
	eng := &pausedListEngine{Engine: e.eng, entered: make(chan struct{}), release: make(chan struct{})}
	boxes, err := core.NewSandboxes(core.SandboxesOptions{
		Store: e.store, Engine: eng, Snapshots: e.svc, Node: "node-1",
		Logger: slog.New(slog.DiscardHandler), DefaultImage: image,
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
	var wg sync.WaitGroup
	wg.Go(func() { boxes.Reconcile(t.Context()) })
	<-eng.entered // rows listed: none yet
	sb, err := boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		close(eng.release)
		wg.Wait()
		t.Fatal(err)
	}
	close(eng.release)
	wg.Wait()
	if st, err := e.eng.SandboxState(t.Context(), sb.ID); err != nil || st != core.RuntimeRunning {
		t.Errorf("sandbox created during a reconcile pass: engine state %s %v, want running", st, err)
	}
	if got, err := boxes.Get(e.ctx, sb.ID); err != nil || got.State != core.SandboxRunning {
		t.Errorf("sandbox: %+v %v, want running", got, err)
	}
}
