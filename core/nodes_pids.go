package core

import (
	"context"
	"fmt"
)

// PidsBudget bounds the processes this node's sandboxes may hold together.
// Each sandbox's cgroup caps its own processes (pids.max), but the kernel
// numbers processes from one table (kernel.pid_max): were the caps to add
// up past it, sandboxes together could leave the host unable to fork. So
// the sum of the caps of every sandbox that holds one stays within Total,
// which the operator sizes below pid_max with room for the host.
type PidsBudget struct {
	// Total is what all sandboxes' caps may add up to; 0 leaves the
	// budget unchecked.
	Total int64
	// PerSandbox is the cap the engine gives each sandbox.
	PerSandbox int64
	// Reserved is held by sandboxes no store row counts: the engine's
	// warm pool at its largest (idle, but each with its own cap).
	Reserved int64
}

// admit refuses one more sandbox when live sandboxes' caps, the reserved
// part and the new sandbox's cap would exceed Total. The message names no
// node, host or limit of the host: tenants see it.
func (b PidsBudget) admit(live int) error {
	if b.Total <= 0 {
		return nil
	}
	if int64(live+1)*b.PerSandbox+b.Reserved > b.Total {
		return Errorf(ErrResourceExhausted,
			"no room for another sandbox on this server: its sandboxes hold all the processes it allows (%d sandboxes running or paused); kill sandboxes or try again later",
			live)
	}
	return nil
}

// admitPids checks this node's pids budget against its live sandboxes.
func (n *Nodes) admitPids(ctx context.Context) error {
	b := n.opt.Pids
	if b.Total <= 0 {
		return nil
	}
	byState, err := n.opt.Store.CountNodeSandboxes(ctx, n.opt.Self.Name)
	if err != nil {
		return fmt.Errorf("count sandboxes of node %s: %w", n.opt.Self.Name, err)
	}
	live := 0
	for _, st := range []SandboxState{SandboxStarting, SandboxRunning, SandboxPaused} {
		live += byState[st]
	}
	return b.admit(live)
}
