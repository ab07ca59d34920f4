package core_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/core"
)

// placeEnv is node a (this one, 4 vCPUs, 8 GiB) and node b (the same, at
// http://b:8080) sharing one store, with a's sandbox service clustered.
type placeEnv struct {
	*env
	clk   *manualClock
	boxes *core.Sandboxes
}

func newPlaceEnv(t *testing.T, cluster bool) *placeEnv {
	t.Helper()
	e := newEnv(t, "a")
	clk := &manualClock{now: time.Now()}
	a := newMember(t, e.store, clk, "a", 4)
	newMember(t, e.store, clk, "b", 4)
	boxes, err := core.NewSandboxes(core.SandboxesOptions{
		Store: e.store, Engine: e.eng, Snapshots: e.svc, Node: "a", Clock: clk,
		Logger: slog.New(slog.DiscardHandler), DefaultImage: image, Nodes: a, Cluster: cluster,
	})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{Name: "py", DockerImage: image, FSCapacityBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	e.run(t)
	e.waitFinal(t, snap.ID)
	return &placeEnv{env: e, clk: clk, boxes: boxes}
}

// put records a running sandbox of tenant-a named name on node.
func (e *placeEnv) put(t *testing.T, node, name string, vcpus int, mem int64) string {
	t.Helper()
	id, err := core.NewSandboxID()
	if err != nil {
		t.Fatal(err)
	}
	now := e.clk.Now()
	sb := &core.Sandbox{ID: id, TenantID: "tenant-a", Name: name, State: core.SandboxRunning, VCPUs: vcpus,
		MemoryBytes: mem, OnTimeout: core.TimeoutKill, Node: node, CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateSandbox(t.Context(), sb); err != nil {
		t.Fatal(err)
	}
	return id
}

var onB = &core.ElsewhereError{Node: "b", Address: "http://b:8080"}

// elsewhere is the *ElsewhereError in err, nil when there is none.
func elsewhere(t *testing.T, err error) *core.ElsewhereError {
	t.Helper()
	var ee *core.ElsewhereError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("err = %v, want nil or an *ElsewhereError", err)
	}
	return ee
}

// Where sends a call to the live node holding its sandbox, by id or by a
// name of the caller's tenant, and keeps everything else here.
func TestWhereNamesTheNodeHoldingTheSandbox(t *testing.T) {
	t.Parallel()
	e := newPlaceEnv(t, true)
	idB := e.put(t, "b", "box-b", 1, 1<<30)
	idA := e.put(t, "a", "box-a", 1, 1<<30)
	idGone := e.put(t, "gone", "box-gone", 1, 1<<30)
	noKey := t.Context()
	otherTenant := core.WithPrincipal(t.Context(), core.Principal{TenantID: "tenant-b"})
	cases := []struct {
		name string
		ctx  context.Context
		ref  string
		want *core.ElsewhereError
	}{
		{"id on b, no principal (envd)", noKey, idB, onB},
		{"id on b, the caller's", e.ctx, idB, onB},
		{"name on b in the caller's tenant", e.ctx, "box-b", onB},
		{"id on b with another tenant's key", otherTenant, idB, nil},
		{"name without a principal", noKey, "box-b", nil},
		{"name in another tenant", otherTenant, "box-b", nil},
		{"on this node", e.ctx, idA, nil},
		{"on an unknown node", e.ctx, idGone, nil},
		{"unknown sandbox", e.ctx, "inope", nil},
		{"no sandbox named", e.ctx, "", nil},
		{"already forwarded here", core.ForwardedHere(e.ctx), idB, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := elsewhere(t, e.boxes.Where(tc.ctx, tc.ref))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Where(%q) (-want +got):\n%s", tc.ref, diff)
			}
		})
	}

	e.clk.Add(31 * time.Second) // b's heartbeat is stale: its sandboxes read as lost
	if got := elsewhere(t, e.boxes.Where(e.ctx, idB)); got != nil {
		t.Errorf("b dead: %v, want nil", got)
	}
}

// Without a cluster nothing is ever elsewhere, and nothing is looked up.
func TestWhereOutsideAClusterIsAlwaysHere(t *testing.T) {
	t.Parallel()
	e := newPlaceEnv(t, false)
	idB := e.put(t, "b", "box-b", 1, 1<<30)
	if err := e.boxes.Where(e.ctx, idB); err != nil {
		t.Errorf("Where on a lone node: %v, want nil", err)
	}
	e.put(t, "a", "", 2, 1<<30)
	if _, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"}); elsewhere(t, err) != nil {
		t.Errorf("Create on a lone node: %v, want started here", err)
	}
}

// Create is placed by the size it asks for: elsewhere when another node
// has more room (nothing recorded here), here when the call was placed
// already or no node has room.
func TestCreatePlacesAcrossTheCluster(t *testing.T) {
	t.Parallel()
	e := newPlaceEnv(t, true)
	e.put(t, "a", "", 1, 7<<30) // a: 3 vCPUs, 1 GiB free
	e.put(t, "b", "", 2, 1<<30) // b: 2 vCPUs, 7 GiB free

	if _, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py", MemoryBytes: 512 << 20}); elsewhere(t, err) != nil {
		t.Fatalf("512 MiB: %v, want here (more free vCPUs)", err)
	}
	_, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py", Name: "big", MemoryBytes: 2 << 30})
	if diff := cmp.Diff(onB, elsewhere(t, err)); diff != "" {
		t.Fatalf("2 GiB (-want +got):\n%s", diff)
	}
	if _, err := e.store.GetSandboxByName(t.Context(), "tenant-a", "big"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("a create sent elsewhere left a row here: %v", err)
	}
	// b sent it back here (its view differed): it is started here, or
	// refused by this node's own check, never sent on.
	_, err = e.boxes.Create(core.ForwardedHere(e.ctx), core.CreateSandboxRequest{SnapshotRef: "py", Name: "big", MemoryBytes: 2 << 30})
	if !errors.Is(err, core.ErrResourceExhausted) {
		t.Errorf("forwarded 2 GiB with 1 GiB free here: %v, want this node's ErrResourceExhausted", err)
	}
	// No node has room: this node's refusal answers.
	_, err = e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py", MemoryBytes: 7<<30 + 512<<20})
	if !errors.Is(err, core.ErrResourceExhausted) {
		t.Errorf("7.5 GiB: %v, want this node's ErrResourceExhausted", err)
	}
}
