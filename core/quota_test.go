package core_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// newQuotaEnv is newBoxEnv with quotas on both services and no snapshot
// made yet; workers run unless stopped is set.
func newQuotaEnv(t *testing.T, q core.Quotas, run bool) *boxEnv {
	t.Helper()
	e := newEnv(t, "node-1")
	svc, err := core.NewSnapshots(core.SnapshotsOptions{
		Store: e.store, Engine: e.eng, Owner: "node-1", Logger: slog.New(slog.DiscardHandler),
		ClaimTTL: 300 * time.Millisecond, BuildTimeout: 5 * time.Second, Quotas: q,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	boxes, err := core.NewSandboxes(core.SandboxesOptions{
		Store: e.store, Engine: e.eng, Snapshots: svc, Node: "node-1",
		Logger: slog.New(slog.DiscardHandler), DefaultImage: image, Quotas: q,
	})
	if err != nil {
		t.Fatal(err)
	}
	if run {
		e.run(t)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { boxes.Run(ctx) })
		t.Cleanup(func() { cancel(); wg.Wait() })
	}
	return &boxEnv{env: e, boxes: boxes}
}

// wantQuota fails unless err is ErrResourceExhausted with a message that
// holds want (the words the LangSmith SDKs read the quota type from).
func wantQuota(t *testing.T, what string, err error, want string) {
	t.Helper()
	if !errors.Is(err, core.ErrResourceExhausted) {
		t.Fatalf("%s: err = %v, want ErrResourceExhausted", what, err)
	}
	if got := core.PublicMessage(err); !strings.Contains(got, want) {
		t.Errorf("%s: message %q, want it to contain %q", what, got, want)
	}
}

func TestSandboxQuotaRefusesAtRequestTime(t *testing.T) {
	e := newQuotaEnv(t, core.Quotas{Sandboxes: 2}, true)
	snap, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "py", DockerImage: image, FSCapacityBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFinal(t, snap.ID)
	var made []*core.Sandbox
	for range 2 {
		sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, sb)
	}
	// A paused sandbox still holds its place.
	if err := e.boxes.Pause(e.ctx, made[0].ID); err != nil {
		t.Fatal(err)
	}
	e.eng.Warm[snap.ImageRef] = []string{"iwarm0000000000000000"}
	_, err = e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py", Name: "third"})
	wantQuota(t, "third create", err, "sandbox count limit reached: 2 of 2 sandboxes")
	if got := len(e.eng.Warm[snap.ImageRef]); got != 1 {
		t.Errorf("refused create took a warm sandbox (%d left, want 1)", got)
	}
	if ids, _ := e.eng.ListSandboxContainers(t.Context()); len(ids) != 2 {
		t.Errorf("engine holds %d sandboxes after a refusal, want 2", len(ids))
	}
	if _, err := e.boxes.Get(e.ctx, "third"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("refused sandbox is recorded: %v", err)
	}
	// Another tenant has quota of its own.
	other := core.WithPrincipal(t.Context(), core.Principal{TenantID: "tenant-b"})
	if _, err := e.boxes.Create(other, core.CreateSandboxRequest{}); err != nil {
		t.Errorf("other tenant's create: %v", err)
	}
	if err := e.boxes.Kill(e.ctx, made[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py", Name: "third"}); err != nil {
		t.Errorf("create after a kill freed a place: %v", err)
	}
}

func TestSandboxQuotaHoldsUnderConcurrentCreates(t *testing.T) {
	e := newQuotaEnv(t, core.Quotas{Sandboxes: 3}, true)
	snap, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "py", DockerImage: image, FSCapacityBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFinal(t, snap.ID)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			_, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py", Name: fmt.Sprintf("b%d", i)})
			switch {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, core.ErrResourceExhausted):
				t.Errorf("create %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 3 {
		t.Errorf("%d concurrent creates succeeded, want 3", ok.Load())
	}
	if ids, _ := e.eng.ListSandboxContainers(t.Context()); len(ids) != 3 {
		t.Errorf("engine holds %d sandboxes, want 3", len(ids))
	}
}

func TestSnapshotCountQuota(t *testing.T) {
	e := newQuotaEnv(t, core.Quotas{Snapshots: 2}, true)
	for _, name := range []string{"a", "b"} {
		if _, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: name, DockerImage: image, FSCapacityBytes: 1 << 30}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "c", DockerImage: image, FSCapacityBytes: 1 << 30})
	wantQuota(t, "third snapshot", err, "snapshot limit reached: 2 of 2 snapshots stored")
	if msg := core.PublicMessage(err); strings.Contains(msg, "sandbox") {
		t.Errorf("snapshot quota message %q names sandboxes (the LangSmith SDK would call it sandbox_count)", msg)
	}
	if _, err := e.svc.Get(e.ctx, "c"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("refused snapshot is recorded: %v", err)
	}
	a, err := e.svc.Get(e.ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(e.ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "c", DockerImage: image, FSCapacityBytes: 1 << 30}); err != nil {
		t.Errorf("create after a delete: %v", err)
	}
}

// A building snapshot reserves its capacity; once built it holds only what
// it uses, and the next one is admitted.
func TestStorageQuotaCountsBuildsAtCapacity(t *testing.T) {
	e := newQuotaEnv(t, core.Quotas{StorageBytes: 1 << 30}, false)
	first, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "a", DockerImage: image, FSCapacityBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "b", DockerImage: image, FSCapacityBytes: 1 << 20})
	wantQuota(t, "create while a build reserves the quota", err, "storage limit reached: snapshots hold 1.0 GiB")
	for _, w := range []string{"memory", "cpu"} {
		if msg := core.PublicMessage(err); strings.Contains(msg, w) {
			t.Errorf("storage quota message %q holds %q (the LangSmith SDK would read another quota type)", msg, w)
		}
	}
	e.run(t)
	if got := e.waitFinal(t, first.ID); got.Status != core.SnapshotReady {
		t.Fatalf("build: %s %s", got.Status, got.StatusMessage)
	}
	if _, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "b", DockerImage: image, FSCapacityBytes: 1 << 20}); err != nil {
		t.Errorf("create once the build holds only its %d bytes: %v", e.eng.Size, err)
	}
}

func TestCaptureQuota(t *testing.T) {
	e := newQuotaEnv(t, core.Quotas{Snapshots: 1}, true)
	snap, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "py", DockerImage: image, FSCapacityBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFinal(t, snap.ID)
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []core.CaptureSnapshotRequest{{Name: "cap"}, {Name: "py", Tag: "latest", Retag: true}} {
		_, err = e.boxes.Capture(e.ctx, sb.ID, req)
		wantQuota(t, fmt.Sprintf("capture %+v", req), err, "snapshot limit reached: 1 of 1")
	}
	all, err := e.svc.List(e.ctx, core.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Errorf("%d snapshots after refused captures, want 1", len(all))
	}
	if got, err := e.boxes.Get(e.ctx, sb.ID); err != nil || got.State != core.SandboxRunning {
		t.Errorf("sandbox after refused captures: %+v, %v", got, err)
	}
}
