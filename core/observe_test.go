package core_test

import (
	"context"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
	"github.com/snapgate/snapgate/store"
)

// recorder is an Observer that remembers what it was told.
type recorder struct {
	mu       sync.Mutex
	builds   map[core.SnapshotStatus]int
	captures map[core.SnapshotStatus]int
	pulled   []int64
}

func (r *recorder) BuildFinished(s core.SnapshotStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.builds[s]++
}

func (r *recorder) CaptureFinished(s core.SnapshotStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.captures[s]++
}

func (r *recorder) ImagePulled(n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pulled = append(r.pulled, n)
}

type observed struct {
	builds, captures map[core.SnapshotStatus]int
	pulled           []int64
}

func (r *recorder) snapshot() observed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return observed{builds: maps.Clone(r.builds), captures: maps.Clone(r.captures), pulled: slices.Clone(r.pulled)}
}

// newObservedEnv is newBoxEnv's services with an observer, before any build.
func newObservedEnv(t *testing.T, rec *recorder) (*env, *core.Sandboxes) {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "db.sqlite"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := coretest.NewEngine(2 << 20)
	svc, err := core.NewSnapshots(core.SnapshotsOptions{
		Store: st, Engine: eng, Owner: "node-1", Logger: slog.New(slog.DiscardHandler),
		ClaimTTL: 300 * time.Millisecond, BuildTimeout: 5 * time.Second, Observer: rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := core.NewSandboxes(core.SandboxesOptions{
		Store: st, Engine: eng, Snapshots: svc, Node: "node-1", Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: st, eng: eng, svc: svc, ctx: core.WithPrincipal(t.Context(), core.Principal{TenantID: "tenant-a", KeyID: "key-a"})}
	e.run(t)
	return e, boxes
}

func TestObserverSeesBuildsCapturesAndPulls(t *testing.T) {
	rec := &recorder{builds: map[core.SnapshotStatus]int{}, captures: map[core.SnapshotStatus]int{}}
	e, boxes := newObservedEnv(t, rec)
	missing := "registry.test/missing:latest"
	e.eng.Fail[missing] = core.Errorf(core.ErrNotFound, "image %s not found in its registry", missing)

	var ids []string
	for _, req := range []core.CreateSnapshotRequest{
		{Name: "ok", DockerImage: image, FSCapacityBytes: 1 << 30},
		{Name: "missing", DockerImage: missing, FSCapacityBytes: 1 << 30},
		{Name: "too-small", DockerImage: "registry.test/other:latest", FSCapacityBytes: 1024},
	} {
		s, err := e.svc.Create(e.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	for _, id := range ids {
		e.waitFinal(t, id)
	}
	sb, err := boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := boxes.Capture(e.ctx, sb.ID, core.CaptureSnapshotRequest{Name: "cap"}); err != nil {
		t.Fatal(err)
	}

	want := observed{
		builds:   map[core.SnapshotStatus]int{core.SnapshotReady: 1, core.SnapshotFailed: 2},
		captures: map[core.SnapshotStatus]int{core.SnapshotReady: 1},
		// The too-small image was pulled before its size failed the build.
		pulled: []int64{2 << 20, 2 << 20},
	}
	if d := cmp.Diff(want, rec.snapshot(), cmp.AllowUnexported(observed{})); d != "" {
		t.Errorf("observed (-want +got):\n%s", d)
	}
}

func TestCountByStateCountsThisNodesLiveSandboxes(t *testing.T) {
	e := newBoxEnv(t)
	counts := func() map[core.SandboxState]int {
		t.Helper()
		got, err := e.boxes.CountByState(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	zero := map[core.SandboxState]int{core.SandboxStarting: 0, core.SandboxRunning: 0, core.SandboxPaused: 0}
	if d := cmp.Diff(zero, counts()); d != "" {
		t.Errorf("empty node (-want +got):\n%s", d)
	}
	a, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.boxes.Pause(e.ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.boxes.Kill(e.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	want := map[core.SandboxState]int{core.SandboxStarting: 0, core.SandboxRunning: 0, core.SandboxPaused: 1}
	if d := cmp.Diff(want, counts()); d != "" {
		t.Errorf("after pause and kill (-want +got):\n%s", d)
	}
}
