package engine

import (
	"context"
	"fmt"
	"syscall"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/snapgate/snapgate/core"
)

// sandboxTask loads a sandbox's container and task. task is nil (and
// status Stopped) when the container has no task. ErrNotFound when the
// container is missing.
func (e *Engine) sandboxTask(ctx context.Context, id string) (containerd.Container, containerd.Task, containerd.ProcessStatus, error) {
	c, err := e.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil, nil, "", core.WithCause(core.ErrNotFound, err, "sandbox %s not found", id)
	}
	if err != nil {
		return nil, nil, "", classify(err, "load sandbox "+id)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return c, nil, containerd.Stopped, nil
	}
	if err != nil {
		return nil, nil, "", classify(err, "load task of sandbox "+id)
	}
	st, err := task.Status(ctx)
	if errdefs.IsNotFound(err) {
		return c, nil, containerd.Stopped, nil
	}
	if err != nil {
		return nil, nil, "", classify(err, "get status of sandbox "+id)
	}
	return c, task, st.Status, nil
}

func notRunning(id string) error {
	return core.Errorf(core.ErrFailedPrecondition, "sandbox %s is not running", id)
}

// PauseSandbox freezes the sandbox's processes (cgroup freezer). Pausing a
// paused sandbox is success. ErrNotFound, ErrFailedPrecondition (no live
// task).
func (e *Engine) PauseSandbox(ctx context.Context, id string) error {
	ctx = e.withNS(ctx)
	unlock, err := e.freezes.lock(ctx, id)
	if err != nil {
		return classify(err, "pause sandbox "+id)
	}
	defer unlock()
	_, task, st, err := e.sandboxTask(ctx, id)
	switch {
	case err != nil:
		return err
	case st == containerd.Paused || st == containerd.Pausing:
		return nil
	case st != containerd.Running:
		return notRunning(id)
	}
	if err := task.Pause(ctx); err != nil {
		return classify(err, "pause sandbox "+id)
	}
	return nil
}

// ResumeSandbox thaws a paused sandbox. Resuming a running one is success.
// ErrNotFound, ErrFailedPrecondition (no live task).
func (e *Engine) ResumeSandbox(ctx context.Context, id string) error {
	ctx = e.withNS(ctx)
	unlock, err := e.freezes.lock(ctx, id)
	if err != nil {
		return classify(err, "resume sandbox "+id)
	}
	defer unlock()
	_, task, st, err := e.sandboxTask(ctx, id)
	switch {
	case err != nil:
		return err
	case st == containerd.Running:
		return nil
	case st != containerd.Paused && st != containerd.Pausing:
		return notRunning(id)
	}
	if err := task.Resume(ctx); err != nil {
		return classify(err, "resume sandbox "+id)
	}
	return nil
}

// KillSandbox kills the task, deletes it, and deletes the container with
// its writable snapshot. Every missing piece is success, so it also
// finishes a kill that was interrupted.
func (e *Engine) KillSandbox(ctx context.Context, id string) error {
	ctx = e.withNS(ctx)
	unlock, err := e.sandboxes.lock(ctx, id)
	if err != nil {
		return classify(err, "kill sandbox "+id)
	}
	defer unlock()
	e.pool.takeReserved(id)
	c, err := e.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return classify(err, "kill sandbox "+id)
	}
	if err := e.stopTask(ctx, c); err != nil {
		return err
	}
	if err := e.detachDisk(ctx, id); err != nil {
		return err
	}
	// The range label is set once, at creation: the loaded record has it.
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return classify(err, "delete sandbox "+id)
	}
	err = c.Delete(ctx, containerd.WithSnapshotCleanup)
	if err != nil && !errdefs.IsNotFound(err) {
		return classify(err, "delete sandbox "+id)
	}
	// Its rules go before its id range: a new sandbox given the range
	// gets the same slot, whose rules must not be removed under it.
	if err := e.detachNetwork(ctx, id, info.Labels); err != nil {
		return err
	}
	e.claims.release(shiftOf(info.Labels), id)
	return nil
}

// stopTask SIGKILLs the task, waits (bounded) for it to exit and deletes
// it. A frozen task holds a pending SIGKILL until it is thawed (cgroup v1
// freezer), so a paused one is resumed right after the signal; it never
// runs user code again.
func (e *Engine) stopTask(ctx context.Context, c containerd.Container) error {
	op := "kill sandbox " + c.ID()
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return classify(err, op)
	}
	wctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	exited, err := task.Wait(wctx)
	if err != nil && !errdefs.IsNotFound(err) {
		return classify(err, op)
	}
	st, _ := task.Status(ctx)
	e.execs.sandboxEnding(c.ID())
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
		return classify(err, op)
	}
	if st.Status == containerd.Paused || st.Status == containerd.Pausing {
		// Fails when runc already thawed it for the signal: fine.
		_ = task.Resume(ctx)
	}
	if exited != nil {
		select {
		case <-exited:
		case <-wctx.Done():
			e.log.WarnContext(ctx, "killed sandbox did not exit in time", "sandbox", c.ID(), "timeout", stopTimeout)
		}
	}
	if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
		return classify(err, op)
	}
	return nil
}

// SandboxState reports RuntimeRunning, RuntimePaused, RuntimeStopped (the
// container exists without a running task) or RuntimeMissing.
func (e *Engine) SandboxState(ctx context.Context, id string) (core.RuntimeState, error) {
	_, _, st, err := e.sandboxTask(e.withNS(ctx), id)
	switch {
	case core.KindOf(err) == core.ErrNotFound:
		return core.RuntimeMissing, nil
	case err != nil:
		return "", err
	case st == containerd.Running:
		return core.RuntimeRunning, nil
	case st == containerd.Paused || st == containerd.Pausing:
		return core.RuntimePaused, nil
	}
	return core.RuntimeStopped, nil
}

// ListSandboxContainers returns the ids of all sandbox containers in the
// engine's namespace, with or without a task.
func (e *Engine) ListSandboxContainers(ctx context.Context) ([]string, error) {
	cs, err := e.client.Containers(e.withNS(ctx), fmt.Sprintf("labels.%q==true", sandboxLabel))
	if err != nil {
		return nil, classify(err, "list sandboxes")
	}
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		ids = append(ids, c.ID())
	}
	return ids, nil
}
