package engine_test

import (
	"syscall"
	"testing"

	"github.com/snapgate/snapgate/core/coretest"
)

// The real engine passes the conformance suite core's fakes pass.
func TestEngineConformance(t *testing.T) {
	t.Parallel()
	requireContainerd(t)
	coretest.RunEngineConformance(t, func(t *testing.T) coretest.EngineEnv {
		e := newEnv(t, envOptions{})
		ref, _, _ := e.push(t, "conformance", "latest")
		return coretest.EngineEnv{
			Engine:    e.eng,
			Processes: e.eng,
			Source:    ref,
			Missing:   e.reg.Ref("conformance", "no-such-tag"),
			PushRepo:  e.reg.Addr() + "/conformance/pushed",
			Stop:      e.stopTask,
		}
	})
}

// stopTask SIGKILLs sandbox id's task from outside the engine and waits
// for it to exit: the container stays, without a live task.
func (e *env) stopTask(t *testing.T, id string) {
	t.Helper()
	ctx := e.nsCtx(t.Context())
	c, err := e.raw.LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
}
