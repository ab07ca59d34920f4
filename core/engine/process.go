package engine

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"syscall"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/snapgate/snapgate/core"
)

// runningProcess is a process started by StartProcess. A goroutine (reap)
// waits for its exit, drains its output, deletes it and records how it
// ended, whether or not anybody calls Wait.
type runningProcess struct {
	e       *Engine
	sandbox string
	p       containerd.Process // nil when it never started (127/126)
	// ready is closed once StartProcess returns: p is set by then.
	ready chan struct{}

	stdinR *io.PipeReader // the shim's copy reads it; nil without stdin
	stdinW *io.PipeWriter

	// signals has bit n set once signal n was sent: an exit code of 128+n
	// is then reported as that signal, not as an exit.
	signals atomic.Uint64
	// sandboxEnding is set once the sandbox's task is being killed: a
	// SIGKILL exit is then the sandbox's end, not the command's.
	sandboxEnding atomic.Bool

	done   chan struct{}
	status core.ExitStatus
	err    error
}

func newRunningProcess(e *Engine, sandbox string, stdin bool) *runningProcess {
	rp := &runningProcess{e: e, sandbox: sandbox, ready: make(chan struct{}), done: make(chan struct{})}
	if stdin {
		rp.stdinR, rp.stdinW = io.Pipe()
	}
	return rp
}

// Stdin implements core.RunningProcess.
func (rp *runningProcess) Stdin() io.WriteCloser {
	if rp.stdinW == nil {
		return nil
	}
	return rp.stdinW
}

// closeStdin stops the copy into the process's stdin: writers get
// io.ErrClosedPipe from now on.
func (rp *runningProcess) closeStdin() {
	if rp.stdinR != nil {
		_ = rp.stdinR.CloseWithError(io.ErrClosedPipe)
	}
}

// closeShimStdin runs when the copy of our stdin pipe into the FIFO ended
// (the caller closed it): the shim keeps its own writer on the FIFO, and
// the process sees EOF only once that one is closed too.
func (rp *runningProcess) closeShimStdin() {
	<-rp.ready
	if rp.p == nil {
		return
	}
	select {
	case <-rp.done:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(rp.e.withNS(context.Background()), stopTimeout)
	defer cancel()
	if err := rp.p.CloseIO(ctx, containerd.WithStdinCloser); err != nil && !errdefs.IsNotFound(err) {
		rp.e.log.WarnContext(ctx, "close exec stdin", "sandbox", rp.sandbox, "err", err)
	}
}

// reap waits for the exit, drains the output (bounded by ioDrainGrace),
// reports the exit, then deletes the process. The report comes first: the
// shim's delete waits up to 2 s more for output a background child of the
// process keeps open.
func (rp *runningProcess) reap(exited <-chan containerd.ExitStatus) {
	ctx := rp.e.withNS(context.Background())
	st := <-exited
	code, _, err := st.Result()
	if err == nil {
		rp.e.drainOutput(ctx, rp.sandbox, rp.p)
	}
	rp.closeStdin()
	switch {
	case err != nil && rp.sandboxEnding.Load():
		rp.finish(core.ExitStatus{Code: -1, SandboxEnded: true}, nil)
	case err != nil:
		rp.finish(core.ExitStatus{Code: -1}, classifyExec(err, rp.sandbox))
	default:
		rp.finish(rp.exitStatus(int(code)), nil)
	}
	rp.e.deleteProcess(ctx, rp.sandbox, rp.p)
}

func (rp *runningProcess) finish(st core.ExitStatus, err error) {
	rp.status, rp.err = st, err
	rp.e.execs.remove(rp)
	close(rp.done)
}

// exitStatus reads the shim's exit code: it reports a process killed by
// signal n as 128+n, indistinguishable from exit(128+n), so only the
// signals this process was sent count as signals.
func (rp *runningProcess) exitStatus(code int) core.ExitStatus {
	// A command that ended on its own just as the kill came keeps its
	// status; only the kill's SIGKILL is the sandbox's end. The code
	// stays what the shim said, for clients that show only that.
	if code == 128+int(syscall.SIGKILL) && rp.sandboxEnding.Load() {
		return core.ExitStatus{Code: code, SandboxEnded: true}
	}
	if sig := code - 128; sig > 0 && sig < 64 && rp.signals.Load()&(1<<sig) != 0 {
		return core.ExitStatus{Code: -1, Signal: syscall.Signal(sig)}
	}
	return core.ExitStatus{Code: code}
}

// Signal implements core.RunningProcess: sig goes to the process and
// everything it started that is still below it.
func (rp *runningProcess) Signal(ctx context.Context, sig syscall.Signal) error {
	if sig > 0 && sig < 64 {
		rp.signals.Or(1 << sig)
	}
	select {
	case <-rp.done:
		return nil
	default:
	}
	if rp.p == nil {
		return nil
	}
	// The tree is read before the signal: once the command dies, its
	// children are re-parented to the sandbox's init and lost to us.
	tree := descendants(int(rp.p.Pid()))
	err := rp.p.Kill(rp.e.withNS(ctx), sig)
	signalAll(tree, sig)
	if err == nil || errdefs.IsNotFound(err) { // exited meanwhile
		return nil
	}
	return classifyExec(err, rp.sandbox)
}

// Wait implements core.RunningProcess.
func (rp *runningProcess) Wait(ctx context.Context) (core.ExitStatus, error) {
	select {
	case <-rp.done:
		return rp.status, rp.err
	case <-ctx.Done():
		return core.ExitStatus{}, classify(ctx.Err(), "wait for a command in sandbox "+rp.sandbox)
	}
}

// eofReader calls atEOF (once, in its own goroutine) when r's reads end.
type eofReader struct {
	r     io.Reader
	once  sync.Once
	atEOF func()
}

func (r *eofReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if err != nil {
		r.once.Do(func() { go r.atEOF() })
	}
	return n, err
}
