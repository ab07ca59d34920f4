package core_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// A node's sandboxes may together hold no more pids.max than its budget:
// live sandboxes (starting, running, paused) and the warm pool's reserve
// count, ended ones do not; the refusal names neither node nor path.
func TestAdmitKeepsSandboxesWithinPidsBudget(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := newNodesStore(t)
	clk := &manualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	const name = "node-7.internal:/var/lib/snapgate"
	n, err := core.NewNodes(core.NodesOptions{
		Store: st, Clock: clk, Logger: slog.New(slog.DiscardHandler),
		Self: core.Node{Name: name, VCPUs: 64, MemoryBytes: 64 << 30},
		Pids: core.PidsBudget{Total: 1000, PerSandbox: 300, Reserved: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	putSandbox(t, st, clk, name, core.SandboxRunning, 1)
	putSandbox(t, st, clk, name, core.SandboxKilled, 1)
	putSandbox(t, st, clk, "other", core.SandboxRunning, 1)
	if err := n.Admit(ctx, 1, 1<<30); err != nil {
		t.Fatalf("Admit with 1 live of room for 3 (100 reserved): %v", err)
	}
	putSandbox(t, st, clk, name, core.SandboxPaused, 1)
	putSandbox(t, st, clk, name, core.SandboxStarting, 1)
	err = n.Admit(ctx, 1, 1<<30)
	if !errors.Is(err, core.ErrResourceExhausted) {
		t.Fatalf("Admit with 3 live × 300 + 100 reserved of 1000: %v, want ErrResourceExhausted", err)
	}
	wantNoServerDetails(t, core.PublicMessage(err), name)
	// The vCPU refusal is a tenant's answer too.
	err = n.Admit(ctx, 65, 1<<30)
	if !errors.Is(err, core.ErrResourceExhausted) {
		t.Fatalf("Admit(65 vCPUs) on a 64-vCPU node: %v, want ErrResourceExhausted", err)
	}
	wantNoServerDetails(t, core.PublicMessage(err), name)
}

// wantNoServerDetails fails when msg names the node or any host path.
func wantNoServerDetails(t *testing.T, msg, node string) {
	t.Helper()
	for _, leak := range []string{node, "node-7", "/var/lib", "/proc", "pid_max"} {
		if strings.Contains(msg, leak) {
			t.Errorf("message to tenants %q names %q", msg, leak)
		}
	}
}
