package coretest

import (
	"context"

	"github.com/snapgate/snapgate/core"
)

// SetStats sets what SandboxStats reports for sandbox id from now on; a
// sandbox never set reports zeros.
func (e *Engine) SetStats(id string, st core.SandboxStats) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stats == nil {
		e.stats = map[string]core.SandboxStats{}
	}
	e.stats[id] = st
}

// SandboxStats answers as the real engine does: ErrNotFound without a
// container, ErrFailedPrecondition without a task.
func (e *Engine) SandboxStats(_ context.Context, id string) (core.SandboxStats, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.sandboxes()[id] {
	case "":
		return core.SandboxStats{}, core.Errorf(core.ErrNotFound, "sandbox %s not found", id)
	case core.RuntimeStopped:
		return core.SandboxStats{}, core.Errorf(core.ErrFailedPrecondition, "sandbox %s is not running", id)
	}
	return e.stats[id], nil
}
