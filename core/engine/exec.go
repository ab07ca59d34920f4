package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/snapgate/snapgate/core"
)

// ioDrainGrace bounds waiting for an exec's output after it exited. Output
// written before the exit is in pipe buffers and arrives within
// milliseconds; a background child that inherited stdout keeps the pipe
// open forever, and must not hold the call.
const ioDrainGrace = 250 * time.Millisecond

// Exec runs argv in a running sandbox as the sandbox's user, in its working
// directory, with env (KEY=VALUE) on top of the sandbox's environment, and
// returns the exit code. stdin, stdout and stderr may be nil. A command
// that cannot be started because it does not exist exits 127 (126 when it
// is not executable), as in a shell. ErrNotFound, ErrFailedPrecondition
// (paused or stopped sandbox), ErrInvalidArgument.
func (e *Engine) Exec(ctx context.Context, id string, argv []string, env []string,
	stdin io.Reader, stdout, stderr io.Writer) (exitCode int, err error) {
	if len(argv) == 0 || argv[0] == "" {
		return 0, core.Errorf(core.ErrInvalidArgument, "a command is required")
	}
	ctx = e.withNS(ctx)
	// The 1.6 shim fails to start a process given some stdio paths but
	// not others ("opening file \"\""), so both outputs always get one.
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	streams := cio.NewCreator(cio.WithStreams(stdin, stdout, stderr))
	p, exited, err := e.startProcess(ctx, id, streams, func(proc *specs.Process) {
		proc.Args = argv
		proc.Env = mergeEnv(proc.Env, env)
	})
	if err != nil {
		if code, ok := startFailureCode(err); ok {
			return code, nil
		}
		return 0, classifyExec(err, id)
	}
	defer e.deleteProcess(ctx, id, p)
	if stdin != nil {
		if err := p.CloseIO(ctx, containerd.WithStdinCloser); err != nil {
			e.log.WarnContext(ctx, "close exec stdin", "sandbox", id, "err", err)
		}
	}
	return e.waitProcess(ctx, id, p, exited)
}

// startProcess creates and starts a process from the sandbox's own process
// spec as changed by setup (never a terminal), in the order that loses no
// exit: Wait before Start. It holds the sandbox's freeze lock, so a
// capture cannot freeze the task between the state check and the start.
// The exit channel does not end with ctx: a process may outlive the call
// that started it. A process that failed to start is already deleted.
func (e *Engine) startProcess(ctx context.Context, id string, streams cio.Creator,
	setup func(*specs.Process)) (containerd.Process, <-chan containerd.ExitStatus, error) {
	unlock, err := e.freezes.lock(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	c, task, st, err := e.sandboxTask(ctx, id)
	switch {
	case err != nil:
		return nil, nil, err
	case st == containerd.Paused || st == containerd.Pausing:
		return nil, nil, core.Errorf(core.ErrFailedPrecondition, "sandbox %s is paused: resume it to run commands", id)
	case st != containerd.Running:
		return nil, nil, notRunning(id)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return nil, nil, err
	}
	proc := *spec.Process
	setup(&proc)
	proc.Terminal, proc.ConsoleSize = false, nil
	p, err := task.Exec(ctx, "exec-"+randomID(), &proc, streams)
	if err != nil {
		return nil, nil, err
	}
	exited, err := p.Wait(context.WithoutCancel(ctx))
	if err == nil {
		err = p.Start(ctx)
	}
	if err != nil {
		e.deleteProcess(ctx, id, p)
		return nil, nil, err
	}
	return p, exited, nil
}

// waitProcess waits for the exit status, then drains the output (bounded:
// see ioDrainGrace). Our stdin was closed after Start: the shim holds its
// own writer on the FIFO, so the process would never see EOF otherwise.
func (e *Engine) waitProcess(ctx context.Context, id string, p containerd.Process, exited <-chan containerd.ExitStatus) (int, error) {
	var status containerd.ExitStatus
	select {
	case status = <-exited:
	case <-ctx.Done():
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
		_ = p.Kill(kctx, syscall.SIGKILL)
		return 0, classify(ctx.Err(), "run command in sandbox "+id)
	}
	code, _, err := status.Result()
	if err != nil {
		return 0, classifyExec(err, id)
	}
	e.drainOutput(ctx, id, p)
	return int(code), nil
}

// drainOutput waits for an exited process's output to reach its writers,
// at most ioDrainGrace.
func (e *Engine) drainOutput(ctx context.Context, id string, p containerd.Process) {
	drained := make(chan struct{})
	go func() { p.IO().Wait(); close(drained) }()
	t := time.NewTimer(ioDrainGrace)
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
		e.log.DebugContext(ctx, "exec output still open after exit (a background child holds it)", "sandbox", id)
	}
}

// deleteProcess deletes an exec'd process (killing it if it still runs)
// with a live context; Delete also cancels its output copiers.
func (e *Engine) deleteProcess(ctx context.Context, id string, p containerd.Process) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if _, err := p.Delete(dctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
		e.log.WarnContext(ctx, "delete exec process", "sandbox", id, "err", err)
	}
}

// startFailureCode maps runc's "cannot exec" errors to the exit codes a
// shell reports for them. Only runc's exec step counts: the shim fails
// with "no such file or directory" for its own reasons too.
func startFailureCode(err error) (int, bool) {
	msg := err.Error()
	if !strings.Contains(msg, "unable to start container process: exec") {
		return 0, false
	}
	switch {
	case strings.Contains(msg, "no such file or directory"),
		strings.Contains(msg, "executable file not found"):
		return 127, true
	case strings.Contains(msg, "permission denied"):
		return 126, true
	}
	return 0, false
}

// classifyExec recognizes a task that was paused or stopped under us.
func classifyExec(err error, id string) error {
	if core.KindOf(err) != nil {
		return err
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "paused"):
		return core.WithCause(core.ErrFailedPrecondition, err, "sandbox %s is paused: resume it to run commands", id)
	case errdefs.IsNotFound(err), strings.Contains(msg, "not running"),
		strings.Contains(msg, "container does not exist"):
		return core.WithCause(core.ErrFailedPrecondition, err, "sandbox %s is not running", id)
	}
	return classify(err, "run command in sandbox "+id)
}

// mergeEnv sets each KEY=VALUE of over on base, replacing same keys.
func mergeEnv(base, over []string) []string {
	out := make([]string, 0, len(base)+len(over))
	index := map[string]int{}
	for _, kv := range append(append([]string(nil), base...), over...) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			out[i] = kv
			continue
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// randomID is 12 random hex digits, for exec ids, temporary snapshots and
// ingest refs.
func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
