package core

import (
	"context"
	"fmt"
	"slices"
)

// Every change of a sandbox's state or a snapshot's status goes through
// transitionSandbox or finishSnapshot: each checks the change against its
// table (sandboxTransitions, snapshotTransitions) before the store's
// compare-and-set writes it, so a change the table does not draw is
// refused, never written. TestTransitionsUsedAreInTheTable reads every
// call of them in core and checks the pairs it can use against the table.

// transitionSandbox moves sandbox id to `to` if it is still in one of
// from. A from with no step to `to` in sandboxTransitions is a
// *TransitionError, before any write; so is the compare-and-set missing
// (the sandbox moved meanwhile, or is gone).
func transitionSandbox(ctx context.Context, st Store, id string, from []SandboxState, to SandboxState, ch SandboxChange) error {
	if err := checkTransition(sandboxTransitions, "sandbox "+id, from, to); err != nil {
		return err
	}
	return st.TransitionSandbox(ctx, id, from, to, ch)
}

// finishSnapshot records r on snapshot id if it is still in one of from:
// the step to r.Status, checked against snapshotTransitions as
// transitionSandbox does.
func finishSnapshot(ctx context.Context, st Store, id string, from []SnapshotStatus, r SnapshotResult) error {
	if err := checkTransition(snapshotTransitions, "snapshot "+id, from, r.Status); err != nil {
		return err
	}
	return st.FinishSnapshot(ctx, id, from, r)
}

// checkTransition returns a *TransitionError naming the first of from
// that table gives no step to `to`; an empty from is a bug in the caller.
func checkTransition[S ~string](table map[S][]S, resource string, from []S, to S) error {
	if len(from) == 0 {
		return fmt.Errorf("%s: a transition to %q needs at least one state to come from", resource, to)
	}
	for _, f := range from {
		if !slices.Contains(table[f], to) {
			return &TransitionError{Resource: resource, From: string(f), To: string(to)}
		}
	}
	return nil
}

// predecessors reads a transition table backwards: the states with an
// allowed step to `to`, in a stable order.
func predecessors[S ~string](table map[S][]S, to S) []S {
	var from []S
	for f, tos := range table {
		if slices.Contains(tos, to) {
			from = append(from, f)
		}
	}
	slices.Sort(from)
	return from
}
