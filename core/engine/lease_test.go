package engine_test

import (
	"context"
	"slices"
	"testing"

	"github.com/containerd/containerd/v2/core/leases"

	"github.com/snapgate/snapgate/core/engine"
)

// A process restarted on the same node deletes the leases its dead
// predecessor held at once, however young: a capture killed mid-way must
// not pin its half-made snapshot for StaleLeaseAge. Other nodes' young
// leases are left alone (their pulls may be running).
func TestNewDeletesItsNodeLeasesAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := e.nsCtx(t.Context())
	ls := e.raw.LeasesService()
	mine, err := ls.Create(ctx, leases.WithRandomID(), leases.WithLabel("snapgate/owner", "engine"), leases.WithLabel("snapgate/node", "node-a"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := ls.Create(ctx, leases.WithRandomID(), leases.WithLabel("snapgate/owner", "engine"), leases.WithLabel("snapgate/node", "node-b"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ls.Delete(e.nsCtx(context.Background()), other) })

	eng, err := engine.New(t.Context(), engine.Options{Address: ctrAddress, Namespace: e.ns, Node: "node-a"})
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	defer eng.Close()
	left, err := ls.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range left {
		ids = append(ids, l.ID)
	}
	if slices.Contains(ids, mine.ID) || !slices.Contains(ids, other.ID) {
		t.Errorf("leases after New = %v; want %s (node-a's) deleted and %s (node-b's) kept", ids, mine.ID, other.ID)
	}
}
