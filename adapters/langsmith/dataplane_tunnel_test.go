package langsmith

import (
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"
)

// echoInBox echoes every connection to port of the test box, prefixed.
func echoInBox(t *testing.T, e *dataplaneEnv, port uint16) {
	t.Helper()
	l := e.env.DataEngine.Listen(e.id, port)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(append([]byte("echo:"), buf[:n]...)); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// tunnelSession opens {dataplane_url}/tunnel with key and starts a yamux
// client on it, as the Python SDK does.
func tunnelSession(t *testing.T, e *dataplaneEnv, key string) (*yamux.Session, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if key != "" {
		h.Set("X-Api-Key", key)
	}
	ws, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(e.dp, "http")+"/tunnel", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	sess, err := yamux.Client(websocket.NetConn(t.Context(), ws, websocket.MessageBinary), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	return sess, resp, nil
}

// openStream opens a stream with header (version, port) and returns it
// with the server's status byte.
func openStream(t *testing.T, sess *yamux.Session, version byte, port uint16) (net.Conn, byte) {
	t.Helper()
	st, err := sess.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	hdr := []byte{version, 0, 0}
	binary.BigEndian.PutUint16(hdr[1:], port)
	if _, err := st.Write(hdr); err != nil {
		t.Fatal(err)
	}
	var status [1]byte
	if _, err := io.ReadFull(st, status[:]); err != nil {
		t.Fatalf("status byte: %v", err)
	}
	return st, status[0]
}

// Each stream of a tunnel session reaches the port its header names; a
// bad version, port 0 and a port nothing listens on get their status
// byte; streams are independent.
func TestTunnelStreams(t *testing.T) {
	e := newDataplaneEnv(t)
	echoInBox(t, e, 5432)
	echoInBox(t, e, 6379)
	sess, resp, err := tunnelSession(t, e, e.keyA)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	a, sa := openStream(t, sess, tunnelVersion, 5432)
	b, sb := openStream(t, sess, tunnelVersion, 6379)
	if sa != tunnelOK || sb != tunnelOK {
		t.Fatalf("status %d %d, want 0 0", sa, sb)
	}
	for _, c := range []struct {
		conn net.Conn
		msg  string
	}{{a, "one"}, {b, "two"}, {a, "three"}} {
		if _, err := c.conn.Write([]byte(c.msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len("echo:"+c.msg))
		if _, err := io.ReadFull(c.conn, buf); err != nil || string(buf) != "echo:"+c.msg {
			t.Errorf("read %q %v, want echo:%s", buf, err, c.msg)
		}
	}
	for _, tc := range []struct {
		name    string
		version byte
		port    uint16
		want    byte
	}{
		{"bad version", 2, 5432, tunnelBadVersion},
		{"port 0", tunnelVersion, 0, tunnelPortRefused},
		{"nothing listens", tunnelVersion, 1234, tunnelDialFailed},
	} {
		if _, got := openStream(t, sess, tc.version, tc.port); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
}

// The tunnel is authenticated like the dataplane: no key is 403, another
// tenant's box 404, before any upgrade.
func TestTunnelAuth(t *testing.T) {
	e := newDataplaneEnv(t)
	for _, tc := range []struct {
		name, key string
		want      int
	}{{"no key", "", 403}, {"other tenant", e.keyB, 404}} {
		_, resp, err := tunnelSession(t, e, tc.key)
		if err == nil || resp == nil || resp.StatusCode != tc.want {
			t.Errorf("%s: %v %v, want %d", tc.name, err, resp, tc.want)
		}
	}
}
