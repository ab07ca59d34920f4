package core_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
	"github.com/snapgate/snapgate/store"
)

const image = "registry.test/busybox:latest"

type env struct {
	store *store.Store
	eng   *coretest.Engine
	svc   *core.Snapshots
	ctx   context.Context // carries tenant A's principal
}

func newEnv(t *testing.T, owner string) *env {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "db.sqlite"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvOn(t, st, coretest.NewEngine(2<<20), owner)
}

func newEnvOn(t *testing.T, st *store.Store, eng *coretest.Engine, owner string) *env {
	t.Helper()
	svc, err := core.NewSnapshots(core.SnapshotsOptions{
		Store: st, Engine: eng, Owner: owner, Logger: slog.New(slog.DiscardHandler),
		ClaimTTL: 300 * time.Millisecond, BuildTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := core.WithPrincipal(t.Context(), core.Principal{TenantID: "tenant-a", KeyID: "key-a"})
	return &env{store: st, eng: eng, svc: svc, ctx: ctx}
}

// run starts the workers until the test ends.
func (e *env) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { e.svc.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func (e *env) waitFinal(t *testing.T, id string) *core.Snapshot {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s, err := e.svc.Get(e.ctx, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if s.Status != core.SnapshotBuilding {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("snapshot %s still building after 5s", id)
	return nil
}

func TestCreateValidates(t *testing.T) {
	e := newEnv(t, "node-1")
	cases := []struct {
		name string
		req  core.CreateSnapshotRequest
		want string
	}{
		{"empty name", core.CreateSnapshotRequest{DockerImage: image, FSCapacityBytes: 1}, "name must not be empty"},
		{"upper case name", core.CreateSnapshotRequest{Name: "Py", DockerImage: image, FSCapacityBytes: 1}, `name "Py" is invalid`},
		{"traversal name", core.CreateSnapshotRequest{Name: "../etc", DockerImage: image, FSCapacityBytes: 1}, "is invalid"},
		{"long name", core.CreateSnapshotRequest{Name: strings.Repeat("a", 256), DockerImage: image, FSCapacityBytes: 1}, "at most 255"},
		{"zero capacity", core.CreateSnapshotRequest{Name: "ok", DockerImage: image}, "fs_capacity_bytes must be a positive"},
		{"bad image", core.CreateSnapshotRequest{Name: "ok", DockerImage: "A B", FSCapacityBytes: 1}, "docker_image"},
		{"unknown registry", core.CreateSnapshotRequest{Name: "ok", DockerImage: image, FSCapacityBytes: 1, RegistryID: "nope"}, "registry_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Create(e.ctx, tc.req)
			if !errors.Is(err, core.ErrInvalidArgument) {
				t.Fatalf("err = %v, want ErrInvalidArgument", err)
			}
			if got := core.PublicMessage(err); !strings.Contains(got, tc.want) {
				t.Errorf("message %q does not contain %q", got, tc.want)
			}
		})
	}
}

func TestBuildReachesReady(t *testing.T) {
	e := newEnv(t, "node-1")
	e.run(t)
	s, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "py", DockerImage: image, FSCapacityBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != core.SnapshotBuilding {
		t.Errorf("created status = %s, want building", s.Status)
	}
	got := e.waitFinal(t, s.ID)
	if got.Status != core.SnapshotReady || got.FSUsedBytes != 2<<20 || !strings.HasPrefix(got.ImageDigest, "sha256:") {
		t.Errorf("got %+v, want ready with size and digest", got)
	}
	if !e.eng.Has(core.ImageRefFor(s.ID)) {
		t.Error("engine has no image for the ready snapshot")
	}
	if _, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "py", DockerImage: image, FSCapacityBytes: 1 << 30}); !errors.Is(err, core.ErrAlreadyExists) {
		t.Errorf("duplicate name: err = %v, want ErrAlreadyExists", err)
	}
}

func TestBuildFailuresCarryReasons(t *testing.T) {
	e := newEnv(t, "node-1")
	missing := "registry.test/missing:latest"
	e.eng.Fail[missing] = core.Errorf(core.ErrNotFound, "image %s not found in its registry", missing)
	e.run(t)
	cases := []struct {
		name, image string
		capacity    int64
		want        string
	}{
		{"unknown image", missing, 1 << 30, "not found in its registry"},
		{"capacity exceeded", image, 1024, "more than fs_capacity_bytes 1024"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: strings.ReplaceAll(tc.name, " ", "-"), DockerImage: tc.image, FSCapacityBytes: tc.capacity})
			if err != nil {
				t.Fatal(err)
			}
			got := e.waitFinal(t, s.ID)
			if got.Status != core.SnapshotFailed || !strings.Contains(got.StatusMessage, tc.want) {
				t.Errorf("got status %s message %q, want failed with %q", got.Status, got.StatusMessage, tc.want)
			}
			if e.eng.Has(core.ImageRefFor(s.ID)) {
				t.Error("failed build left its image behind")
			}
		})
	}
}

func TestConcurrentCreatesPullOnce(t *testing.T) {
	e := newEnv(t, "node-1")
	e.eng.Gate = make(chan struct{})
	e.run(t)
	var ids []string
	for i := range 4 {
		s, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: fmt.Sprintf("same-%d", i), DockerImage: image, FSCapacityBytes: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	time.Sleep(100 * time.Millisecond) // let every worker join the pull
	close(e.eng.Gate)
	for _, id := range ids {
		if got := e.waitFinal(t, id); got.Status != core.SnapshotReady {
			t.Errorf("%s: status %s (%s)", id, got.Status, got.StatusMessage)
		}
		if !e.eng.Has(core.ImageRefFor(id)) {
			t.Errorf("%s has no image of its own", id)
		}
	}
	if n := e.eng.PullCount(image); n != 1 {
		t.Errorf("pulls = %d, want 1", n)
	}
}

func TestBuildLeftByDeadProcessIsResumed(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(t.Context(), filepath.Join(dir, "db.sqlite"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := coretest.NewEngine(1 << 20)
	first := newEnvOn(t, st, eng, "node-1")
	// Created, never built: the process died before its worker ran.
	s, err := first.svc.Create(first.ctx, core.CreateSnapshotRequest{Name: "orphan", DockerImage: image, FSCapacityBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	// Another node's claim that will expire, and this node's own old claim.
	now := time.Now().UTC()
	if ok, err := st.ClaimSnapshotBuild(t.Context(), s.ID, "node-1", now, now.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	restarted := newEnvOn(t, st, eng, "node-1")
	restarted.run(t)
	if got := restarted.waitFinal(t, s.ID); got.Status != core.SnapshotReady {
		t.Errorf("resumed build: status %s (%s), want ready", got.Status, got.StatusMessage)
	}
}

func TestDeleteDuringBuildRemovesPulledImage(t *testing.T) {
	e := newEnv(t, "node-1")
	e.eng.Gate = make(chan struct{})
	e.run(t)
	s, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "gone", DockerImage: image, FSCapacityBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := e.svc.Delete(e.ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	close(e.eng.Gate)
	deadline := time.Now().Add(3 * time.Second)
	for e.eng.PullCount(image) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if e.eng.Has(core.ImageRefFor(s.ID)) {
		t.Error("image of a snapshot deleted during its build was kept")
	}
	if _, err := e.svc.Get(e.ctx, s.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("get after delete: %v, want ErrNotFound", err)
	}
}

func TestTenantsAreSealedApart(t *testing.T) {
	e := newEnv(t, "node-1")
	e.run(t)
	s, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "mine", DockerImage: image, FSCapacityBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	other := core.WithPrincipal(t.Context(), core.Principal{TenantID: "tenant-b"})
	for _, ref := range []string{s.ID, "mine"} {
		if _, err := e.svc.Get(other, ref); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("get %s as other tenant: %v, want ErrNotFound", ref, err)
		}
		if err := e.svc.Delete(other, ref); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("delete %s as other tenant: %v, want ErrNotFound", ref, err)
		}
	}
	list, err := e.svc.List(other, core.SnapshotFilter{})
	if err != nil || len(list) != 0 {
		t.Errorf("other tenant lists %d snapshots (err %v), want 0", len(list), err)
	}
	if _, err := e.svc.Get(t.Context(), s.ID); !errors.Is(err, core.ErrUnauthenticated) {
		t.Errorf("get without principal: %v, want ErrUnauthenticated", err)
	}
}

func TestReconcileRemovesOrphanImages(t *testing.T) {
	e := newEnv(t, "node-1")
	orphan := core.ImageRefFor("00000000-0000-0000-0000-000000000000")
	if _, err := e.eng.Pull(t.Context(), core.PullRequest{Name: orphan, Source: image}); err != nil {
		t.Fatal(err)
	}
	foreign := "docker.io/library/not-ours:latest"
	if _, err := e.eng.Pull(t.Context(), core.PullRequest{Name: foreign, Source: image}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e.eng.Has(orphan) {
		t.Error("orphan snapshot image kept")
	}
	if !e.eng.Has(foreign) {
		t.Error("an image snapgate does not own was removed")
	}
}
