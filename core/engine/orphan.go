package engine

import (
	"context"
	"errors"
	"fmt"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Orphan tasks: a task whose container record is gone.
//
// containerd deletes a container record whatever its task: only the
// client refuses, by looking the task up first, which is no lock. So a
// delete that runs while the task is being created (containerd looks the
// container up when the creation starts, then spends a shim start and a
// `runc create` making it) leaves a task without its container. Every
// task call (start, kill, delete, even get) looks the container up first
// and answers NotFound from then on: the task stays CREATED, its `runc
// init` waiting forever, its shim alive, and containerd only lists it.
//
// The engine never deletes a container while a task of the same id may be
// in the making in this process (sandboxes lock, pool.go createWarm), and
// it deletes the task before the container everywhere (KillSandbox,
// deleteContainer). What it cannot prevent (another process on the same
// namespace, a version before these locks) it repairs: a start that finds
// its container gone reaps the task at once (startTask), and New reaps
// every orphan of its namespace.

// orphanLabel marks the placeholder record reapOrphanTask makes.
const orphanLabel = "snapgate/orphan-task"

// reapOrphanTask removes task id if its container record is gone: a
// placeholder record of the same id makes the task reachable again, and
// goes with it. reaped is false when a container of that id exists (its
// task belongs to it) or no task does.
func (e *Engine) reapOrphanTask(ctx context.Context, id string) (reaped bool, err error) {
	op := "remove orphan task " + id
	spec, err := typeurl.MarshalAnyToProto(&specs.Spec{Version: specs.Version})
	if err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	cs := e.client.ContainerService()
	_, err = cs.Create(ctx, containers.Container{
		ID:      id,
		Labels:  map[string]string{orphanLabel: "true"},
		Runtime: containers.RuntimeInfo{Name: sandboxRuntime},
		Spec:    spec,
	})
	if errdefs.IsAlreadyExists(err) {
		return false, nil
	}
	if err != nil {
		return false, classify(err, op)
	}
	// Deleted even when the task could not be: a placeholder that stayed
	// would pass for the task's container; the next New tries again.
	defer func() {
		if derr := cs.Delete(context.WithoutCancel(ctx), id); derr != nil && !errdefs.IsNotFound(derr) {
			err = errors.Join(err, classify(derr, op))
		}
	}()
	c, err := e.client.LoadContainer(ctx, id)
	if err != nil {
		return false, classify(err, op)
	}
	if _, err := c.Task(ctx, nil); errdefs.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, classify(err, op)
	}
	if err := e.stopTask(ctx, c); err != nil {
		return false, err
	}
	return true, nil
}

// reapIfContainerGone reaps task id when its container record vanished:
// called after a failed task creation or start, whose cause may be that
// the record was deleted meanwhile.
func (e *Engine) reapIfContainerGone(ctx context.Context, id string) {
	if _, err := e.client.LoadContainer(ctx, id); !errdefs.IsNotFound(err) {
		return
	}
	reaped, err := e.reapOrphanTask(ctx, id)
	switch {
	case err != nil:
		e.log.WarnContext(ctx, "remove the task of a sandbox whose container was deleted while it started", "sandbox", id, "err", err)
	case reaped:
		e.log.WarnContext(ctx, "removed the task of a sandbox whose container was deleted while it started", "sandbox", id)
	}
}

// removeOrphanTasks reaps the tasks of the namespace that have no
// container (left by a process that raced a delete with a task's
// creation). Tasks are listed before containers: a container is made
// before its task, so a task listed without a container listed after it
// is an orphan, or was deleted meanwhile (reapOrphanTask then finds none).
func (e *Engine) removeOrphanTasks(ctx context.Context) error {
	ctx = e.withNS(ctx)
	var errs []error
	// Placeholders of a process that died while reaping.
	left, err := e.client.Containers(ctx, fmt.Sprintf("labels.%q", orphanLabel))
	if err != nil {
		return classify(err, "list containers")
	}
	for _, c := range left {
		err := e.stopTask(ctx, c)
		if err == nil {
			err = e.client.ContainerService().Delete(ctx, c.ID())
		}
		if err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, classify(err, "remove orphan task "+c.ID()))
		}
	}
	list, err := e.client.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return classify(err, "list tasks")
	}
	if len(list.Tasks) == 0 {
		return errors.Join(errs...)
	}
	cs, err := e.client.Containers(ctx)
	if err != nil {
		return classify(err, "list containers")
	}
	have := make(map[string]bool, len(cs))
	for _, c := range cs {
		have[c.ID()] = true
	}
	for _, t := range list.Tasks {
		if have[t.ID] {
			continue
		}
		reaped, err := e.reapOrphanTask(ctx, t.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if reaped {
			e.log.WarnContext(ctx, "removed a task whose container was gone", "sandbox", t.ID, "pid", t.Pid, "status", t.Status.String())
		}
	}
	return errors.Join(errs...)
}
