package storetest

import (
	"testing"

	"github.com/snapgate/snapgate/core"
)

// Counts feed the per-node sandbox gauge: live states only, one node
// only, every tenant, and a kill moves a sandbox out of the count.
func testSandboxCounts(t *testing.T, e env) {
	ctx := t.Context()
	mk := func(tenant, name, node string, state core.SandboxState) *core.Sandbox {
		b := sandbox(tenant, name, base)
		b.Node, b.State = node, state
		mustCreateSandbox(t, e.st, b)
		return b
	}
	mk("t1", "run1", "a", core.SandboxRunning)
	run2 := mk("t2", "run2", "a", core.SandboxRunning)
	mk("t1", "paused", "a", core.SandboxPaused)
	mk("t1", "starting", "a", core.SandboxStarting)
	mk("t1", "killed", "a", core.SandboxKilled)
	mk("t1", "failed", "a", core.SandboxFailed)
	mk("t1", "elsewhere", "b", core.SandboxRunning)

	got, err := e.st.CountNodeSandboxes(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "counts on node a", map[core.SandboxState]int{
		core.SandboxRunning: 2, core.SandboxPaused: 1, core.SandboxStarting: 1,
	}, got)

	transition(t, e.st, run2.ID, fromLive, core.SandboxKilled, core.SandboxChange{})
	got, err = e.st.CountNodeSandboxes(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "counts on node a after a kill", map[core.SandboxState]int{
		core.SandboxRunning: 1, core.SandboxPaused: 1, core.SandboxStarting: 1,
	}, got)

	got, err = e.st.CountNodeSandboxes(ctx, "empty")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "counts on a node without sandboxes", map[core.SandboxState]int{}, got)
}
