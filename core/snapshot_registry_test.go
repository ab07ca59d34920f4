package core_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
	"github.com/snapgate/snapgate/store"
)

const snapRepo = "registry.test/snaps"

// node is one snapgate process of a cluster: its own fake engine, services
// on the shared store, and the same snapshot registry.
type node struct {
	*env
	boxes *core.Sandboxes
}

// pushCounter is an Observer that counts pushed bytes (core.PushObserver).
type pushCounter struct{ bytes atomic.Int64 }

func (*pushCounter) BuildFinished(core.SnapshotStatus)   {}
func (*pushCounter) CaptureFinished(core.SnapshotStatus) {}
func (*pushCounter) ImagePulled(int64)                   {}
func (p *pushCounter) ImagePushed(n int64)               { p.bytes.Add(n) }

func newNode(t *testing.T, st *store.Store, name string, reg *core.SnapshotRegistry, obs core.Observer) *node {
	t.Helper()
	eng := coretest.NewEngine(2 << 20)
	svc, err := core.NewSnapshots(core.SnapshotsOptions{
		Store: st, Engine: eng, Owner: name, Logger: slog.New(slog.DiscardHandler),
		ClaimTTL: 300 * time.Millisecond, BuildTimeout: 5 * time.Second, SnapshotRegistry: reg, Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := core.NewSandboxes(core.SandboxesOptions{
		Store: st, Engine: eng, Snapshots: svc, Node: name, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := core.WithPrincipal(t.Context(), core.Principal{TenantID: "tenant-a", KeyID: "key-a"})
	return &node{env: &env{store: st, eng: eng, svc: svc, ctx: ctx}, boxes: boxes}
}

// newCluster returns two nodes sharing a store and the snapshot registry;
// only the first runs build workers.
func newCluster(t *testing.T, obs core.Observer) (a, b *node) {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "db.sqlite"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := core.NewSnapshotRegistry(snapRepo, "pusher", "secret")
	if err != nil {
		t.Fatal(err)
	}
	a, b = newNode(t, st, "node-a", reg, obs), newNode(t, st, "node-b", reg, nil)
	a.run(t)
	return a, b
}

func (n *node) build(t *testing.T, name string) *core.Snapshot {
	t.Helper()
	s, err := n.svc.Create(n.ctx, core.CreateSnapshotRequest{Name: name, DockerImage: image, FSCapacityBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	return n.waitFinal(t, s.ID)
}

func TestNewSnapshotRegistryValidates(t *testing.T) {
	good := map[string]string{
		"registry.example.com/snapgate": "registry.example.com/snapgate",
		"127.0.0.1:5000/snaps/":         "127.0.0.1:5000/snaps",
		"Registry.Example.com:443":      "registry.example.com:443",
		"localhost/a/b":                 "localhost/a/b",
	}
	for in, want := range good {
		r, err := core.NewSnapshotRegistry(in, "", "")
		if err != nil || r.Repository != want {
			t.Errorf("NewSnapshotRegistry(%q) = %+v, %v; want repository %q", in, r, err, want)
		}
	}
	bad := []struct{ repo, user, pass, want string }{
		{"https://registry.example.com/x", "", "", "without a scheme"},
		{"snapgate", "", "", "registry host"},
		{"snapgate/images", "", "", "registry host"},
		{"registry.example.com/Snaps", "", "", "lowercase"},
		{"registry.example.com/a//b", "", "", "lowercase"},
		{"registry.example.com/x", "", "secret", "username"},
	}
	for _, tc := range bad {
		_, err := core.NewSnapshotRegistry(tc.repo, tc.user, tc.pass)
		if !errors.Is(err, core.ErrInvalidArgument) || !strings.Contains(core.PublicMessage(err), tc.want) {
			t.Errorf("NewSnapshotRegistry(%q) = %v; want ErrInvalidArgument mentioning %q", tc.repo, err, tc.want)
		}
	}
	r, _ := core.NewSnapshotRegistry(snapRepo, "pusher", "secret")
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "registry", r)
	if strings.Contains(buf.String(), "secret") || !strings.Contains(buf.String(), "pusher") {
		t.Errorf("logged %q; want the username but never the password", buf.String())
	}
}

func TestBuildAndCaptureArePushedBeforeReady(t *testing.T) {
	obs := &pushCounter{}
	a, _ := newCluster(t, obs)
	snap := a.build(t, "py")
	want := snapRepo + "/tenant-a:" + snap.ID + "@" + snap.ImageDigest
	if snap.Status != core.SnapshotReady || snap.RegistryRef != want {
		t.Fatalf("built %s with registry ref %q; want ready at %q", snap.Status, snap.RegistryRef, want)
	}
	if _, ok := a.eng.Remote[snapRepo+"/tenant-a:"+snap.ID]; !ok {
		t.Errorf("registry holds %v; want the snapshot's tag", a.eng.Remote)
	}
	sb, err := a.boxes.Create(a.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	capd, err := a.boxes.Capture(a.ctx, sb.ID, core.CaptureSnapshotRequest{Name: "cap"})
	if err != nil {
		t.Fatal(err)
	}
	if want := snapRepo + "/tenant-a:" + capd.ID + "@" + capd.ImageDigest; capd.RegistryRef != want {
		t.Errorf("capture's registry ref = %q, want %q", capd.RegistryRef, want)
	}
	if got := obs.bytes.Load(); got <= 0 {
		t.Errorf("observer saw %d pushed bytes, want some", got)
	}
}

func TestPushFailureFailsTheSnapshot(t *testing.T) {
	a, _ := newCluster(t, nil)
	a.eng.PushErr = core.Errorf(core.ErrNotFound, "registry registry.test has no repository for snaps/tenant-a")
	snap := a.build(t, "py")
	const wantMsg = "pushing to the snapshot registry " + snapRepo + " failed: registry registry.test has no repository"
	if snap.Status != core.SnapshotFailed || !strings.HasPrefix(snap.StatusMessage, wantMsg) || snap.RegistryRef != "" {
		t.Errorf("snapshot %s %q (ref %q); want failed with %q...", snap.Status, snap.StatusMessage, snap.RegistryRef, wantMsg)
	}
	if a.eng.Has(snap.ImageRef) {
		t.Error("a snapshot that failed to push kept its local image")
	}

	a.eng.PushErr = nil
	sb, err := a.boxes.Create(a.ctx, core.CreateSandboxRequest{SnapshotRef: a.build(t, "ok").ID})
	if err != nil {
		t.Fatal(err)
	}
	a.eng.PushErr = core.Errorf(core.ErrPermissionDenied, "registry registry.test refused the push")
	_, err = a.boxes.Capture(a.ctx, sb.ID, core.CaptureSnapshotRequest{Name: "cap"})
	// Unavailable, not the registry's kind: the sandbox is there, the
	// server's storage is what failed.
	if core.KindOf(err) != core.ErrUnavailable || !strings.Contains(core.PublicMessage(err), "pushing to the snapshot registry") {
		t.Fatalf("Capture with a failing push = %v; want ErrUnavailable naming the snapshot registry", err)
	}
	capd, err := a.svc.Get(a.ctx, "cap")
	if err != nil || capd.Status != core.SnapshotFailed || !strings.Contains(capd.StatusMessage, "refused the push") {
		t.Errorf("capture recorded as %+v, %v; want failed with the registry's reason", capd, err)
	}
}

// A node that lacks a snapshot's image pulls it from the snapshot registry
// once, however many sandboxes start from it at the same time.
func TestSandboxFromAnotherNodesSnapshot(t *testing.T) {
	a, b := newCluster(t, nil)
	snap := a.build(t, "py")
	if b.eng.Has(snap.ImageRef) {
		t.Fatal("node b has the image already; the test proves nothing")
	}
	b.eng.Gate = make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = b.boxes.Create(b.ctx, core.CreateSandboxRequest{SnapshotRef: "py"}) })
	}
	time.Sleep(100 * time.Millisecond) // let every create reach the pull
	close(b.eng.Gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("create %d on node b: %v", i, err)
		}
	}
	if n := b.eng.PullCount(snap.RegistryRef); n != 1 {
		t.Errorf("node b pulled %s %d times, want once", snap.RegistryRef, n)
	}
	if !b.eng.Has(snap.ImageRef) {
		t.Error("node b has no image after the pull")
	}
	if n := a.eng.PullCount(snap.RegistryRef); n != 0 {
		t.Errorf("node a, which has the image, pulled it %d times", n)
	}
}

func TestPullFromSnapshotRegistryFailureIsActionable(t *testing.T) {
	a, b := newCluster(t, nil)
	snap := a.build(t, "py")
	b.eng.Fail[snap.RegistryRef] = core.Errorf(core.ErrNotFound, "image %s not found in its registry", snap.RegistryRef)
	_, err := b.boxes.Create(b.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if core.KindOf(err) != core.ErrUnavailable {
		t.Fatalf("create = %v; want ErrUnavailable (the snapshot exists; its registry copy failed)", err)
	}
	if msg := core.PublicMessage(err); !strings.Contains(msg, "from the snapshot registry registry.test failed") {
		t.Errorf("message %q does not say the snapshot registry failed", msg)
	}
}

// Without a snapshot registry nothing is pushed and a missing image is a
// start failure as before.
func TestSingleNodePushesNothing(t *testing.T) {
	e := newBoxEnv(t)
	if e.snap.RegistryRef != "" || len(e.eng.Remote) != 0 {
		t.Errorf("single node: registry ref %q, pushed %v; want none", e.snap.RegistryRef, e.eng.Remote)
	}
	if err := e.eng.RemoveImage(t.Context(), e.snap.ImageRef); err != nil {
		t.Fatal(err)
	}
	if _, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"}); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("create without the image = %v, want ErrUnavailable", err)
	}
	if n := e.eng.PullCount(""); n != 0 {
		t.Errorf("pulled %d times from nowhere", n)
	}
}

// Deleting a snapshot deletes its registry manifest, unless another
// snapshot of the tenant has the same manifest; a registry that refuses
// never fails the delete.
func TestDeleteRemovesTheRegistryManifest(t *testing.T) {
	a, _ := newCluster(t, nil)
	first, second := a.build(t, "one"), a.build(t, "two") // one image: one manifest
	if first.ImageDigest != second.ImageDigest {
		t.Fatalf("digests %s and %s differ; the fake should give one", first.ImageDigest, second.ImageDigest)
	}
	if err := a.svc.Delete(a.ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if len(a.eng.Deleted) != 0 {
		t.Errorf("deleted %v while snapshot %s still uses the manifest", a.eng.Deleted, second.ID)
	}
	a.eng.DeleteErr = core.Errorf(core.ErrPermissionDenied, "registry registry.test does not allow deleting manifests")
	if err := a.svc.Delete(a.ctx, second.ID); err != nil {
		t.Fatalf("Delete with a registry refusing deletes = %v, want nil", err)
	}
	want := []string{snapRepo + "/tenant-a@" + second.ImageDigest}
	if !slices.Equal(a.eng.Deleted, want) {
		t.Errorf("registry deletes = %v, want %v", a.eng.Deleted, want)
	}
	if _, err := a.svc.Get(a.ctx, second.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("snapshot after delete: %v, want ErrNotFound", err)
	}
}

// Tenant ids that are not a clean repository component get one, made
// unique by a hash of the id.
func TestTenantRepositoryNames(t *testing.T) {
	a, _ := newCluster(t, nil)
	for tenant, prefix := range map[string]string{
		"tenant-a":   snapRepo + "/tenant-a:",
		"Team_B":     snapRepo + "/team-b-",
		"--":         snapRepo + "/",
		"org/team.c": snapRepo + "/org-team-c-",
	} {
		ctx := core.WithPrincipal(context.Background(), core.Principal{TenantID: tenant, KeyID: "k"})
		s, err := a.svc.Create(ctx, core.CreateSnapshotRequest{Name: "py", DockerImage: image, FSCapacityBytes: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		snap := s
		for deadline := time.Now().Add(5 * time.Second); snap.Status == core.SnapshotBuilding && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			if snap, err = a.store.GetSnapshot(ctx, tenant, s.ID); err != nil {
				t.Fatal(err)
			}
		}
		if !strings.HasPrefix(snap.RegistryRef, prefix) || strings.Count(snap.RegistryRef, ":") != 2 {
			t.Errorf("tenant %q: %s with registry ref %q, want it under %q", tenant, snap.Status, snap.RegistryRef, prefix)
		}
	}
}
