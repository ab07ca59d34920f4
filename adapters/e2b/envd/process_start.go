package envd

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// killGrace is how long after Connect-Timeout-Ms the stream waits for
// core's own timeout kill to report the end before killing it itself.
const killGrace = 3 * time.Second

// maxChunk bounds the output carried by one data event.
const maxChunk = 64 << 10

// start is process.Process/Start (commands.run): start the process, then
// stream its events. Connect-Timeout-Ms (60 s unless the SDK's timeoutMs
// says otherwise, absent for 0) kills the process when it passes.
func (a *API) start(c *gin.Context) {
	var req startRequest
	timeout, err := a.readStream(c, &req)
	if err != nil {
		a.fail(c, err)
		return
	}
	if req.Process == nil {
		a.fail(c, core.Errorf(core.ErrInvalidArgument, "process: the command to run is missing"))
		return
	}
	if req.PTY != nil {
		a.fail(c, newError(errUnimplemented, "PTY sessions are not supported by snapgate: run the command without a terminal"))
		return
	}
	user, err := rpcUser(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	p, err := a.dp.Start(ctx(c), target(c), core.StartProcessRequest{
		Argv: append([]string{req.Process.Cmd}, req.Process.Args...), Env: req.Process.Envs,
		Cwd: str(req.Process.Cwd), User: user, Stdin: req.Stdin == nil || *req.Stdin,
		Tag: str(req.Tag), Timeout: timeout,
	})
	if err != nil {
		a.fail(c, err)
		return
	}
	a.follow(c, p, timeout, true)
}

// follow streams p's events: start, output, end (envd.md §5), keepalives
// in silences, and deadline_exceeded when timeout passes (killing p when
// kill is set and core's own timeout did not).
func (a *API) follow(c *gin.Context, p *core.Process, timeout time.Duration, kill bool) {
	s := newStream(c)
	parent := ctx(c)
	sctx, cancel := parent, context.CancelFunc(func() {})
	if timeout > 0 {
		grace := time.Duration(0)
		if kill {
			grace = killGrace
		}
		sctx, cancel = context.WithTimeout(parent, timeout+grace)
	}
	defer cancel()
	info := p.Info()
	if s.send(processResponse{Event: processEvent{Start: &startEvent{PID: info.PID}}}) != nil {
		return
	}
	interval := keepaliveOf(c)
	keepalive := time.NewTimer(interval)
	defer keepalive.Stop()
	events := p.Events(sctx, 0, 0)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				a.interrupted(c, s, p, parent, sctx, kill)
				return
			}
			if ev.End != nil {
				if ev.End.TimedOut {
					s.end(a.rpcError(c, deadlineError()))
					return
				}
				if s.send(processResponse{Event: processEvent{End: endOf(*ev.End)}}) == nil {
					s.end(connectError{})
				}
				return
			}
			if sendData(s, ev) != nil {
				return
			}
		case <-keepalive.C:
			if s.send(processResponse{Event: processEvent{Keepalive: &struct{}{}}}) != nil {
				return
			}
		}
		keepalive.Reset(interval)
	}
}

// interrupted ends a stream whose events stopped before the end: the
// client left (nothing to say), or the deadline passed.
func (a *API) interrupted(c *gin.Context, s *stream, p *core.Process, parent, sctx context.Context, kill bool) {
	if parent.Err() != nil || !errors.Is(sctx.Err(), context.DeadlineExceeded) {
		return
	}
	if kill {
		kctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 5*time.Second)
		defer cancel()
		if err := p.Signal(kctx, syscall.SIGKILL); err != nil {
			a.log.WarnContext(kctx, "kill after timeout failed", append(logAttrs(c), "err", err)...)
		}
	}
	s.end(a.rpcError(c, deadlineError()))
}

func deadlineError() error {
	return newError(errDeadline, "the call ran longer than its timeout (Connect-Timeout-Ms)")
}

// sendData sends output in chunks of at most maxChunk bytes.
func sendData(s *stream, ev core.ProcessEvent) error {
	for b := ev.Data; len(b) > 0; {
		n := min(len(b), maxChunk)
		d := &dataEvent{}
		if ev.Stream == core.Stderr {
			d.Stderr = b[:n]
		} else {
			d.Stdout = b[:n]
		}
		if err := s.send(processResponse{Event: processEvent{Data: d}}); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
