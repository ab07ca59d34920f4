package envd

import (
	"context"
	"errors"
	"net/http"
	"syscall"
	"time"

	"connectrpc.com/connect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process"
	"github.com/snapgate/snapgate/core"
)

// killGrace is how long after Connect-Timeout-Ms the stream waits for
// core's own timeout kill to report the end before killing it itself.
const killGrace = 3 * time.Second

// maxChunk bounds the output carried by one data event.
const maxChunk = 64 << 10

// Start is process.Process/Start (commands.run): start the process, then
// stream its events. Connect-Timeout-Ms (60 s unless the SDK's timeoutMs
// says otherwise, absent for 0) kills the process when it passes.
func (r processRPC) Start(ctx context.Context, req *connect.Request[process.StartRequest], s *connect.ServerStream[process.StartResponse]) error {
	cfg := req.Msg.GetProcess()
	switch {
	case cfg.GetCmd() == "":
		return core.Errorf(core.ErrInvalidArgument, "process.cmd: the command to run is missing")
	case req.Msg.Pty != nil:
		return newError(errUnimplemented, "pty: PTY sessions are not supported by snapgate: run the command without a terminal")
	}
	user, err := rpcUser(req.Header())
	if err != nil {
		return err
	}
	p, err := r.dp.Start(ctx, callOf(ctx).target, core.StartProcessRequest{
		Argv: append([]string{cfg.GetCmd()}, cfg.GetArgs()...), Env: cfg.GetEnvs(),
		Cwd: cfg.GetCwd(), User: user, Stdin: req.Msg.Stdin == nil || req.Msg.GetStdin(),
		Tag: req.Msg.GetTag(), Timeout: timeLeft(ctx),
	})
	if err != nil {
		return err
	}
	noBuffering(s.ResponseHeader())
	return r.follow(ctx, req.Header(), p, true, func(ev *process.ProcessEvent) error {
		return s.Send(&process.StartResponse{Event: ev})
	})
}

// follow streams p's events through send: start, output, end (the order
// envd sends them in), keepalives in silences, and deadline_exceeded when the call's
// deadline passes (killing p when kill is set and core's own timeout did
// not).
func (r processRPC) follow(ctx context.Context, h http.Header, p *core.Process, kill bool, send func(*process.ProcessEvent) error) error {
	live, timeout, stop := untilClientLeaves(ctx)
	defer stop()
	sctx := live
	if timeout > 0 {
		grace := time.Duration(0)
		if kill {
			grace = killGrace
		}
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(live, timeout+grace)
		defer cancel()
	}
	start := &process.ProcessEvent_Start{Start: &process.ProcessEvent_StartEvent{Pid: p.Info().PID}}
	if err := send(&process.ProcessEvent{Event: start}); err != nil {
		return err
	}
	interval := keepaliveOf(h)
	keepalive := time.NewTimer(interval)
	defer keepalive.Stop()
	events := p.Events(sctx, 0, 0)
	for {
		select {
		case ev, ok := <-events:
			switch {
			case !ok:
				return r.interrupted(live, sctx, p, kill)
			case ev.End != nil && ev.End.TimedOut:
				return deadlineError()
			case ev.End != nil && ev.End.Status.SandboxEnded:
				// envd dies with its sandbox, so no end event ever comes:
				// the SDK sees the stream fail and, the sandbox being
				// gone, raises TimeoutError rather than CommandExitError.
				// unavailable is what it maps to that without a probe.
				return notRunning("The sandbox %s was killed while process %d ran", callOf(ctx).sandbox, p.Info().PID)
			case ev.End != nil:
				return send(&process.ProcessEvent{Event: &process.ProcessEvent_End{End: endOf(*ev.End)}})
			}
			if err := sendData(send, ev); err != nil {
				return err
			}
		case <-keepalive.C:
			alive := &process.ProcessEvent_Keepalive{Keepalive: &process.ProcessEvent_KeepAlive{}}
			if err := send(&process.ProcessEvent{Event: alive}); err != nil {
				return err
			}
		}
		keepalive.Reset(interval)
	}
}

// interrupted ends a stream whose events stopped before the end: the
// client left (nothing to say), or the deadline passed.
func (r processRPC) interrupted(live, sctx context.Context, p *core.Process, kill bool) error {
	if live.Err() != nil || !errors.Is(sctx.Err(), context.DeadlineExceeded) {
		return live.Err()
	}
	if kill {
		kctx, cancel := context.WithTimeout(context.WithoutCancel(live), 5*time.Second)
		defer cancel()
		if err := p.Signal(kctx, syscall.SIGKILL); err != nil {
			r.log.WarnContext(kctx, "kill after timeout failed", append(callOf(live).logAttrs(), "err", err)...)
		}
	}
	return deadlineError()
}

// sendData sends output in chunks of at most maxChunk bytes.
func sendData(send func(*process.ProcessEvent) error, ev core.ProcessEvent) error {
	for b := ev.Data; len(b) > 0; {
		n := min(len(b), maxChunk)
		d := &process.ProcessEvent_DataEvent{}
		if ev.Stream == core.Stderr {
			d.Output = &process.ProcessEvent_DataEvent_Stderr{Stderr: b[:n]}
		} else {
			d.Output = &process.ProcessEvent_DataEvent_Stdout{Stdout: b[:n]}
		}
		if err := send(&process.ProcessEvent{Event: &process.ProcessEvent_Data{Data: d}}); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
