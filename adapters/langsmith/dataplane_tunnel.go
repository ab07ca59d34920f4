package langsmith

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/coder/websocket"
	"github.com/gin-gonic/gin"
	"github.com/hashicorp/yamux"

	"github.com/snapgate/snapgate/core"
)

// The tunnel (GET {dataplane_url}/tunnel, the Python SDK's tunnel(port)):
// a WebSocket of binary frames carrying a yamux session the client opens
// streams on, one per TCP connection. A stream starts with a header,
// version then port (big-endian uint16); the server answers one status
// byte and, when it is tunnelOK, relays the stream to that port on the
// box's loopback until either side is done.
const (
	tunnelVersion = 0x01
	// Status bytes.
	tunnelOK          = 0
	tunnelPortRefused = 1
	tunnelDialFailed  = 2
	tunnelBadVersion  = 3
	// tunnelHeaderTimeout bounds the wait for a stream's header.
	tunnelHeaderTimeout = 10 * time.Second
)

// tunnel serves one session. The box is checked before the upgrade, so a
// missing box is a plain 404.
func (a *API) tunnel(c *gin.Context) {
	t, err := a.target(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	ws, err := websocket.Accept(c.Writer, c.Request, nil)
	if err != nil {
		return // Accept answered the handshake's error
	}
	defer ws.CloseNow()
	ctx := ctx(c)
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = nil
	cfg.Logger = slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)
	sess, err := yamux.Server(websocket.NetConn(ctx, ws, websocket.MessageBinary), cfg)
	if err != nil {
		a.log.WarnContext(ctx, "tunnel: start yamux session", "box", t.Sandbox.ID, "err", err)
		return
	}
	defer sess.Close()
	for {
		st, err := sess.AcceptStreamWithContext(ctx)
		if err != nil {
			return // the client closed the session, or snapgate stops
		}
		go a.tunnelStream(ctx, t, st)
	}
}

// tunnelStream reads a stream's header, dials the port and relays.
func (a *API) tunnelStream(ctx context.Context, t *core.Target, st *yamux.Stream) {
	defer st.Close()
	var hdr [3]byte
	_ = st.SetReadDeadline(time.Now().Add(tunnelHeaderTimeout))
	if _, err := io.ReadFull(st, hdr[:]); err != nil {
		return
	}
	_ = st.SetReadDeadline(time.Time{})
	if hdr[0] != tunnelVersion {
		_, _ = st.Write([]byte{tunnelBadVersion})
		return
	}
	port := int(binary.BigEndian.Uint16(hdr[1:]))
	if port == 0 {
		_, _ = st.Write([]byte{tunnelPortRefused})
		return
	}
	conn, err := a.dataplane.DialPort(ctx, t, port)
	if err != nil {
		a.log.DebugContext(ctx, "tunnel: dial", "box", t.Sandbox.ID, "port", port, "err", err)
		_, _ = st.Write([]byte{tunnelDialFailed})
		return
	}
	defer conn.Close()
	if _, err := st.Write([]byte{tunnelOK}); err != nil {
		return
	}
	splice(st, conn)
}

// splice copies both ways between a and b until both directions end. A
// direction's end is passed on as a half-close where the connection has
// one (a TCP connection; a yamux stream's Close is one), so a client that
// shuts its sending side still reads the answer; otherwise it closes the
// connection whole.
func splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		closeWrite(dst)
		done <- struct{}{}
	}
	go pipe(a, b)
	go pipe(b, a)
	<-done
	<-done
}

func closeWrite(c net.Conn) {
	switch w := c.(type) {
	case interface{ CloseWrite() error }:
		_ = w.CloseWrite()
	default:
		_ = c.Close()
	}
}
