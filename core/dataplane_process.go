package core

import (
	"context"
	"sync"
	"syscall"
	"time"
)

// Process is a process started through the dataplane. Its output is
// buffered (bounded) so several clients and late re-attaches see it.
type Process struct {
	d         *Dataplane
	sandboxID string
	rp        RunningProcess
	out       *output
	done      chan struct{} // closed once it exited and info says so
	// stdinTurn admits one stdin write at a time, so writes keep their
	// order even when a caller gives up waiting on one.
	stdinTurn chan struct{}

	mu          sync.Mutex
	info        ProcessInfo
	stdinClosed bool
}

// run waits for the process, kills it when timeout passes, records how it
// ended and schedules forgetting it.
func (p *Process) run(timeout time.Duration) {
	var timer *time.Timer
	if timeout > 0 {
		timer = time.AfterFunc(timeout, p.expire)
	}
	st, err := p.rp.Wait(context.Background())
	if timer != nil {
		timer.Stop()
	}
	if err != nil {
		p.d.opt.Logger.WarnContext(context.Background(), "dataplane process ended without an exit status",
			"sandbox_id", p.sandboxID, "pid", p.info.PID, "err", err)
		st = ExitStatus{Code: -1}
	}
	p.mu.Lock()
	p.info.Exited, p.info.Status = true, st
	p.mu.Unlock()
	p.out.end()
	close(p.done)
	time.AfterFunc(p.d.opt.FinishedTTL, func() { p.d.forget(p) })
}

// expire kills a process that ran past its timeout.
func (p *Process) expire() {
	p.mu.Lock()
	if p.info.Exited {
		p.mu.Unlock()
		return
	}
	p.info.TimedOut = true
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.rp.Signal(ctx, syscall.SIGKILL); err != nil {
		p.d.opt.Logger.WarnContext(ctx, "kill a process past its timeout", "sandbox_id", p.sandboxID, "pid", p.info.PID, "err", err)
	}
}

// Info describes the process now. Its slices and maps are shared: do not
// modify them.
func (p *Process) Info() ProcessInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// Events streams the process's output from the given offsets (bytes
// before the oldest buffered one are skipped; a reader ahead of the
// output gets what comes past its offset), then live output, then one End event; the channel is closed
// after End or when ctx ends. Output events carry at most 32 KiB; while
// the process runs, a trailing incomplete UTF-8 sequence (≤ 3 bytes) is
// held back until the rest arrives, so text is never split inside a
// character. Readers never slow the process down: a reader that falls
// more than OutputBuffer behind skips what was dropped. Data must not be
// modified.
func (p *Process) Events(ctx context.Context, stdoutOffset, stderrOffset int64) <-chan ProcessEvent {
	ch := make(chan ProcessEvent)
	go p.stream(ctx, ch, [2]int64{stdoutOffset, stderrOffset})
	return ch
}

func (p *Process) stream(ctx context.Context, ch chan<- ProcessEvent, off [2]int64) {
	defer close(ch)
	for {
		evs, wake, ended := p.out.next(&off)
		for _, ev := range evs {
			select {
			case ch <- ev:
			case <-ctx.Done():
				return
			}
		}
		if len(evs) > 0 {
			continue
		}
		if ended {
			info := p.Info()
			select {
			case ch <- ProcessEvent{End: &info}:
			case <-ctx.Done():
			}
			return
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		}
	}
}

// WriteStdin writes to the process's stdin; it returns once the bytes
// were handed to the process's stdin pipe (which holds 64 KiB: a process
// that does not read makes writes wait). ErrFailedPrecondition when it
// was started without stdin, its stdin is closed, or it exited;
// ErrUnavailable when ctx ends first (the write still happens, in order).
func (p *Process) WriteStdin(ctx context.Context, b []byte) error {
	w := p.rp.Stdin()
	p.mu.Lock()
	pid, closed, exited := p.info.PID, p.stdinClosed, p.info.Exited
	p.mu.Unlock()
	switch {
	case w == nil:
		return Errorf(ErrFailedPrecondition, "process %d was started without stdin", pid)
	case exited:
		return Errorf(ErrFailedPrecondition, "process %d has exited", pid)
	case closed:
		return Errorf(ErrFailedPrecondition, "the stdin of process %d is closed", pid)
	case len(b) == 0:
		return nil
	}
	select {
	case p.stdinTurn <- struct{}{}:
	case <-ctx.Done():
		return WithCause(ErrUnavailable, ctx.Err(), "writing to the stdin of process %d was interrupted", pid)
	}
	data := append([]byte(nil), b...)
	errc := make(chan error, 1)
	go func() {
		defer func() { <-p.stdinTurn }()
		_, err := w.Write(data)
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			return WithCause(ErrFailedPrecondition, err, "the stdin of process %d is closed", pid)
		}
		return nil
	case <-ctx.Done():
		return WithCause(ErrUnavailable, ctx.Err(), "writing to the stdin of process %d was interrupted", pid)
	}
}

// CloseStdin closes its stdin (EOF). Closing twice, or closing the stdin
// of a process started without one, is success.
func (p *Process) CloseStdin(ctx context.Context) error {
	w := p.rp.Stdin()
	if w == nil {
		return nil
	}
	p.mu.Lock()
	p.stdinClosed = true
	p.mu.Unlock()
	_ = w.Close() // an io.Pipe writer: never fails
	return nil
}

// Signal sends sig (SIGKILL, SIGTERM, ...). An exited process is success.
// The signal reaches the started process only, not processes it started.
func (p *Process) Signal(ctx context.Context, sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	return p.rp.Signal(ctx, sig)
}

// Wait blocks until the process ended and returns its info.
// ErrUnavailable when ctx ends first.
func (p *Process) Wait(ctx context.Context) (ProcessInfo, error) {
	select {
	case <-p.done:
		return p.Info(), nil
	case <-ctx.Done():
		return ProcessInfo{}, WithCause(ErrUnavailable, ctx.Err(), "stopped waiting for process %d", p.Info().PID)
	}
}
