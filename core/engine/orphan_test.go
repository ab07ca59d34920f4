package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine"
)

// Orphan tasks (orphan.go): containerd deletes a container record whatever
// its task, and then serves the task to no one, so a task whose record was
// deleted while it was being made stays CREATED with its `runc init`
// waiting forever.

// A kill of a warm sandbox that is being made waits for it (the pool holds
// the sandbox's lock like a start), then removes all of it: were the record
// deleted while the task was made, the task would be left without it.
func TestKillWaitsForWarmSandboxBeingMade(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{warmPool: 1})
	img := e.pullSandboxImage(t, "orphan-warm")
	var (
		once   sync.Once
		warmID = make(chan string, 1)
		looked = make(chan struct{}) // the hook is done looking at the kill
		killed = make(chan error, 1)
	)
	engine.SetAfterWarmContainer(e.eng, func(id string) {
		once.Do(func() {
			defer close(looked)
			warmID <- id
			go func() { killed <- e.eng.KillSandbox(context.Background(), id) }()
			deadline := time.Now().Add(10 * time.Second)
			for engine.SandboxLockWaiters(e.eng, id) == 0 {
				select {
				case err := <-killed:
					t.Errorf("KillSandbox(%s) = %v while its container was made and its task not yet: it must wait for the creation", id, err)
					killed <- err
					return
				default:
				}
				if time.Now().After(deadline) {
					t.Errorf("KillSandbox(%s) neither waits for the sandbox nor returns", id)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	})
	e.start(t, img)
	var id string
	select {
	case id = <-warmID:
	case <-time.After(time.Minute):
		t.Fatal("no warm sandbox was made")
	}
	<-looked
	select {
	case err := <-killed:
		if err != nil {
			t.Fatalf("KillSandbox(%s): %v", id, err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("KillSandbox(%s) did not return", id)
	}
	ctx := e.nsCtx(t.Context())
	if _, err := e.raw.LoadContainer(ctx, id); !errdefs.IsNotFound(err) {
		t.Errorf("container of the killed warm sandbox: %v, want NotFound", err)
	}
	e.wantNoTask(t, id)
}

// A start whose container record is deleted between the task's creation
// and its start (what a delete racing the creation leaves) fails, and
// removes the task: nobody could reach it later.
func TestStartRemovesTaskWhoseContainerWasDeleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{hostUserNS: true}) // no id range to release
	img := e.pullSandboxImage(t, "orphan-start")
	ctx := e.nsCtx(t.Context())
	engine.SetAfterNewTask(e.eng, func(id string) {
		if err := e.raw.ContainerService().Delete(ctx, id); err != nil {
			t.Errorf("delete the record of %s: %v", id, err)
		}
	})
	id := "sb-" + randomHex(4)
	t.Cleanup(func() { e.removeSnapshot(t, id) })
	err := e.eng.StartSandbox(t.Context(), core.SandboxSpec{ID: id, Image: img})
	if err == nil {
		t.Fatalf("StartSandbox(%s) succeeded without its container", id)
	}
	e.wantNoTask(t, id)
}

// New removes the tasks of its namespace that have no container, created
// or running.
func TestNewRemovesOrphanTasks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{hostUserNS: true})
	img := e.pullSandboxImage(t, "orphan-new")
	ctx := e.nsCtx(t.Context())
	running := e.start(t, img, func(s *core.SandboxSpec) { s.DiskBytes = 0 })
	created := "sb-" + randomHex(4)
	image, err := e.raw.GetImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.raw.NewContainer(ctx, created,
		containerd.WithImage(image),
		containerd.WithNewSnapshot(created, image),
		containerd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs("/bin/sh", "-c", "sleep 600")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewTask(ctx, cio.NullIO); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{running, created} {
		t.Cleanup(func() { e.removeSnapshot(t, id) })
		if err := e.raw.ContainerService().Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.taskIDs(t); len(got) != 2 {
		t.Fatalf("tasks before New: %v, want the 2 orphans", got)
	}
	e.engineWith(t, func(*engineOptions) {})
	e.wantNoTask(t, running)
	e.wantNoTask(t, created)
	if _, err := e.raw.LoadContainer(ctx, created); !errdefs.IsNotFound(err) {
		t.Errorf("placeholder container left: %v", err)
	}
}

// taskIDs lists the tasks of the test's namespace, container or not.
func (e *env) taskIDs(t *testing.T) []string {
	t.Helper()
	list, err := e.raw.TaskService().List(e.nsCtx(t.Context()), &tasks.ListTasksRequest{})
	if err != nil {
		t.Fatalf("list tasks: %v", err)
	}
	var ids []string
	for _, tk := range list.Tasks {
		ids = append(ids, tk.ID)
	}
	return ids
}

func (e *env) wantNoTask(t *testing.T, id string) {
	t.Helper()
	for _, got := range e.taskIDs(t) {
		if got == id {
			t.Errorf("task %s is left without its container", id)
		}
	}
}

// removeSnapshot removes snapshot id, which a raw delete of its container
// left.
func (e *env) removeSnapshot(t *testing.T, id string) {
	ctx := e.nsCtx(context.Background())
	err := e.raw.SnapshotService("overlayfs").Remove(ctx, id)
	if err != nil && !errdefs.IsNotFound(err) {
		t.Errorf("remove snapshot %s: %v", id, err)
	}
}

// reapTasks removes every task left in the test's namespace, which are
// errors: a placeholder record makes a task whose container is gone
// reachable (independently of the engine's own repair).
func (e *env) reapTasks(t *testing.T, ctx context.Context) {
	list, err := e.raw.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		t.Errorf("cleanup: list tasks: %v", err)
		return
	}
	spec, _ := typeurl.MarshalAnyToProto(&specs.Spec{Version: specs.Version})
	for _, tk := range list.Tasks {
		t.Errorf("cleanup: task %s (pid %d, %s) left behind", tk.ID, tk.Pid, tk.Status)
		_, err := e.raw.ContainerService().Create(ctx, containers.Container{
			ID: tk.ID, Runtime: containers.RuntimeInfo{Name: "io.containerd.runc.v2"}, Spec: spec,
		})
		placeholder := err == nil
		if err != nil && !errdefs.IsAlreadyExists(err) {
			t.Errorf("cleanup: placeholder for task %s: %v", tk.ID, err)
			continue
		}
		c, err := e.raw.LoadContainer(ctx, tk.ID)
		if err == nil {
			var task containerd.Task
			if task, err = c.Task(ctx, nil); err == nil {
				_, err = task.Delete(ctx, containerd.WithProcessKill)
			}
		}
		if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("cleanup: delete task %s: %v", tk.ID, err)
		}
		if placeholder {
			_ = e.raw.ContainerService().Delete(ctx, tk.ID)
		}
	}
}
