package storetest

import (
	"testing"

	"github.com/snapgate/snapgate/core"
)

func nodeCases() []storeCase {
	return []storeCase{
		{"node heartbeat upsert", testNodeUpsert},
		{"node usage counts live sandboxes only", testNodeUsage},
	}
}

// A node's first heartbeat inserts it, later ones rewrite address,
// capacity and time; an unknown node is ErrNotFound.
func testNodeUpsert(t *testing.T, e env) {
	ctx := t.Context()
	n := &core.Node{Name: "a", Address: "http://10.0.0.1:8080", VCPUs: 4, MemoryBytes: 8 << 30, HeartbeatAt: base}
	if err := e.st.UpsertNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	n2 := &core.Node{Name: "a", Address: "http://10.0.0.2:8080", VCPUs: 2, MemoryBytes: 4 << 30, HeartbeatAt: base.Add(5e9)}
	if err := e.st.UpsertNode(ctx, n2); err != nil {
		t.Fatal(err)
	}
	got, err := e.st.GetNode(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	want := *n2
	want.HeartbeatAt = micro(n2.HeartbeatAt)
	diff(t, "node after two heartbeats", &want, got)
	checkUTC(t, "heartbeat_at", got.HeartbeatAt)

	_, err = e.st.GetNode(ctx, "nope")
	wantErr(t, "GetNode(nope)", err, core.ErrNotFound)
}

// ListNodes sums vCPUs and memory over each node's live sandboxes of every
// tenant; killed and failed ones hold nothing.
func testNodeUsage(t *testing.T, e env) {
	ctx := t.Context()
	for _, name := range []string{"b", "a"} {
		if err := e.st.UpsertNode(ctx, &core.Node{Name: name, Address: "http://" + name, VCPUs: 8, MemoryBytes: 16 << 30, HeartbeatAt: base}); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(tenant, node string, vcpus int, mem int64, state core.SandboxState) {
		b := sandbox(tenant, "", base)
		b.Node, b.State, b.VCPUs, b.MemoryBytes = node, state, vcpus, mem
		mustCreateSandbox(t, e.st, b)
	}
	mk("t1", "a", 2, 1<<30, core.SandboxRunning)
	mk("t2", "a", 1, 512<<20, core.SandboxPaused)
	mk("t1", "a", 1, 512<<20, core.SandboxStarting)
	mk("t1", "a", 4, 4<<30, core.SandboxKilled)
	mk("t1", "a", 4, 4<<30, core.SandboxFailed)
	mk("t1", "gone", 1, 1<<30, core.SandboxRunning) // a node without a row

	got, err := e.st.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type usage struct {
		Name string
		VCPU int
		Mem  int64
	}
	var us []usage
	for _, n := range got {
		us = append(us, usage{n.Name, n.UsedVCPUs, n.UsedMemoryBytes})
	}
	diff(t, "node usage", []usage{{"a", 4, 2 << 30}, {"b", 0, 0}}, us)
}
