package langsmith

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

const (
	// wsFirstFrameTimeout bounds the wait for execute or reconnect.
	wsFirstFrameTimeout = 30 * time.Second
	// wsReadLimit bounds one client frame (stdin data arrives in frames).
	wsReadLimit = 8 << 20
)

// executeWS streams a command over a WebSocket (GET /execute/ws): what the
// Python SDK always uses and the JS SDK with the ws package. The box is
// checked before the upgrade, so a missing box is a plain 404.
func (a *API) executeWS(c *gin.Context) {
	t, err := a.target(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	conn, err := websocket.Accept(c.Writer, c.Request, nil)
	if err != nil {
		return // Accept answered the handshake's error
	}
	defer conn.CloseNow()
	conn.SetReadLimit(wsReadLimit)
	s := &wsSession{a: a, conn: conn, target: t}
	s.serve(ctx(c))
}

// wsSession is one socket attached to one process.
type wsSession struct {
	a      *API
	conn   *websocket.Conn
	target *core.Target
}

func (s *wsSession) serve(ctx context.Context) {
	first, err := s.readFirst(ctx)
	if err != nil {
		return // the client went away or sent no usable first frame
	}
	p, id, offsets, err := s.attach(ctx, first)
	if err != nil {
		s.fail(ctx, err)
		return
	}
	if err := s.send(ctx, wsStarted{Type: "started", CommandID: id, PID: p.Info().PID}); err != nil {
		return
	}
	// Reads outlive a shutdown (ctx) so the socket can still close with
	// 1001: coder/websocket drops the connection when a read's ctx ends.
	readCtx, stopReading := context.WithCancel(context.WithoutCancel(ctx))
	defer stopReading()
	sctx, disconnected := context.WithCancel(ctx)
	defer disconnected()
	go s.readControl(readCtx, disconnected, p)
	if s.stream(sctx, p, offsets) {
		_ = s.conn.Close(websocket.StatusNormalClosure, "")
		return
	}
	if ctx.Err() != nil {
		// snapgate is shutting down: the SDKs reconnect at once on 1001.
		_ = s.conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	if first.Type == "execute" && first.KillOnDisconnect {
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = p.Signal(kctx, syscall.SIGKILL)
	}
}

func (s *wsSession) readFirst(ctx context.Context) (wsClientFrame, error) {
	rctx, cancel := context.WithTimeout(ctx, wsFirstFrameTimeout)
	defer cancel()
	var f wsClientFrame
	_, raw, err := s.conn.Read(rctx)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		err = core.WithCause(core.ErrInvalidArgument, err, "the first frame is not a JSON execute or reconnect frame")
		s.fail(ctx, err)
		return f, err
	}
	return f, nil
}

// attach starts the command of an execute frame, or finds the command of
// a reconnect frame. command_id is an idempotency key: an execute re-sent
// after an early close attaches to the command it already started.
func (s *wsSession) attach(ctx context.Context, f wsClientFrame) (p *core.Process, id string, offsets [2]int64, err error) {
	dp := s.a.dataplane
	switch f.Type {
	case "execute":
		req, err := f.startRequest(seconds(f.TimeoutSeconds, defaultTimeout))
		if err != nil {
			return nil, "", offsets, err
		}
		id = f.CommandID
		if id == "" {
			id = newCommandID()
		}
		// No PTY: a pty command runs on pipes (its stdin stays open).
		req.Key, req.Stdin = id, f.PTY || !f.CloseStdin
		p, err = dp.Start(ctx, s.target, req)
		return p, id, offsets, err
	case "reconnect":
		if f.CommandID == "" {
			return nil, "", offsets, core.Errorf(core.ErrInvalidArgument, "reconnect needs a command_id")
		}
		p, err = dp.ProcessByKey(ctx, s.target, f.CommandID)
		return p, f.CommandID, [2]int64{f.StdoutOffset, f.StderrOffset}, err
	}
	return nil, "", offsets, core.Errorf(core.ErrInvalidArgument, "the first frame must be execute or reconnect, got %q", f.Type)
}

// stream sends the process's output from the offsets, then its end. It
// reports whether the end was sent (false: the socket or ctx ended first).
func (s *wsSession) stream(ctx context.Context, p *core.Process, offsets [2]int64) bool {
	streams := map[core.OutputStream]*utf8Stream{core.Stdout: {name: "stdout"}, core.Stderr: {name: "stderr"}}
	for ev := range p.Events(ctx, offsets[0], offsets[1]) {
		if ev.End == nil {
			if st := streams[ev.Stream]; st != nil && !s.sendOutput(ctx, st.frames(ev)) {
				return false
			}
			continue
		}
		for _, st := range []*utf8Stream{streams[core.Stdout], streams[core.Stderr]} {
			if !s.sendOutput(ctx, st.flush()) {
				return false
			}
		}
		if ev.End.TimedOut {
			s.fail(ctx, core.Errorf(errCommandTimeout, "command timed out and was killed"))
			return true
		}
		return s.send(ctx, wsExit{Type: "exit", ExitCode: exitCode(ev.End.Status)}) == nil
	}
	return false
}

func (s *wsSession) sendOutput(ctx context.Context, frames []wsOutput) bool {
	for _, f := range frames {
		if s.send(ctx, f) != nil {
			return false
		}
	}
	return true
}

// readControl applies the client's frames to the process until the socket
// closes, then cancels the session.
func (s *wsSession) readControl(ctx context.Context, disconnected context.CancelFunc, p *core.Process) {
	defer disconnected()
	for {
		_, raw, err := s.conn.Read(ctx)
		if err != nil {
			return
		}
		var f wsClientFrame
		if json.Unmarshal(raw, &f) != nil {
			continue
		}
		// Errors are not fatal to the stream: input after EOF or a kill
		// of an exited command changes nothing the client would act on.
		switch f.Type {
		case "input":
			err = p.WriteStdin(ctx, []byte(f.Data))
		case "close_stdin":
			err = p.CloseStdin(ctx)
		case "kill":
			err = p.Signal(ctx, syscall.SIGKILL)
		}
		if err != nil && core.KindOf(err) == nil {
			s.a.log.WarnContext(ctx, "websocket control frame failed", "type", f.Type, "err", err)
		}
	}
}

func (s *wsSession) send(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.conn.Write(ctx, websocket.MessageText, b)
}

// fail sends an error frame and closes the socket normally: the SDKs raise
// the error frame's type (CommandTimeout as their timeout error).
func (s *wsSession) fail(ctx context.Context, err error) {
	if core.KindOf(err) == nil && !errors.Is(err, errCommandTimeout) {
		s.a.log.ErrorContext(ctx, "websocket command failed", "err", err)
	}
	if s.send(ctx, wsError{Type: "error", ErrorType: wsErrorType(err), Error: core.PublicMessage(err)}) == nil {
		_ = s.conn.Close(websocket.StatusNormalClosure, "")
	}
}

// newCommandID names a command whose client gave no command_id, so it can
// still be re-attached.
func newCommandID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
