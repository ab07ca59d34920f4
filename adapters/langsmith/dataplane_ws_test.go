package langsmith

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsClient is one socket to {dp}/execute/ws.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

func (e *dataplaneEnv) dial(t *testing.T, key string) (*wsClient, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if key != "" {
		h.Set("X-Api-Key", key)
	}
	conn, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(e.dp, "http")+"/execute/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { conn.CloseNow() })
	return &wsClient{t: t, conn: conn}, resp, nil
}

func (c *wsClient) send(frame map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(frame)
	if err := c.conn.Write(c.t.Context(), websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsClient) next() map[string]any {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 10*time.Second)
	defer cancel()
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatal(err)
	}
	return m
}

// drain reads frames up to exit or error; it returns stdout, stderr and
// the last frame.
func (c *wsClient) drain() (stdout, stderr string, last map[string]any) {
	c.t.Helper()
	for {
		f := c.next()
		switch f["type"] {
		case "stdout":
			stdout += f["data"].(string)
		case "stderr":
			stderr += f["data"].(string)
		case "exit", "error":
			return stdout, stderr, f
		}
	}
}

// started reads the first frame, which must be started.
func (c *wsClient) started() map[string]any {
	c.t.Helper()
	f := c.next()
	if f["type"] != "started" {
		c.t.Fatalf("first frame = %v, want started", f)
	}
	return f
}

func execute(command, id string, extra map[string]any) map[string]any {
	f := map[string]any{"type": "execute", "command": command, "timeout_seconds": 10, "shell": "/bin/bash", "command_id": id, "close_stdin": true}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

func TestDataplaneWebSocket(t *testing.T) {
	e := newDataplaneEnv(t)

	t.Run("execute streams output then exit", func(t *testing.T) {
		t.Parallel()
		c, _, err := e.dial(t, e.keyA)
		if err != nil {
			t.Fatal(err)
		}
		c.send(execute(`echo out; echo err >&2; printf 'é€'; exit 4`, "cmd-1", map[string]any{"env": map[string]string{"A": "1"}}))
		st := c.started()
		if st["command_id"] != "cmd-1" || st["pid"].(float64) < 1 {
			t.Errorf("started = %v", st)
		}
		out, errOut, last := c.drain()
		if out != "out\né€" || errOut != "err\n" || last["type"] != "exit" || last["exit_code"] != 4.0 {
			t.Errorf("got %q %q %v", out, errOut, last)
		}
	})

	t.Run("command_id is an idempotency key", func(t *testing.T) {
		t.Parallel()
		for i := range 2 {
			c, _, err := e.dial(t, e.keyA)
			if err != nil {
				t.Fatal(err)
			}
			// A relative path: the fake engine's processes run on the host.
			c.send(execute(`echo ran >> idem; cat idem`, "cmd-idem", nil))
			c.started()
			if out, _, last := c.drain(); out != "ran\n" || last["exit_code"] != 0.0 {
				t.Errorf("execute %d: %q %v", i, out, last)
			}
		}
	})

	t.Run("reconnect from offsets", func(t *testing.T) {
		t.Parallel()
		c, _, _ := e.dial(t, e.keyA)
		c.send(execute(`echo first; echo second`, "cmd-re", nil))
		c.started()
		c.drain()
		r, _, _ := e.dial(t, e.keyA)
		r.send(map[string]any{"type": "reconnect", "command_id": "cmd-re", "stdout_offset": len("first\n"), "stderr_offset": 0})
		if st := r.started(); st["command_id"] != "cmd-re" {
			t.Errorf("reconnect ack = %v", st)
		}
		if out, _, last := r.drain(); out != "second\n" || last["type"] != "exit" {
			t.Errorf("after reconnect: %q %v", out, last)
		}
	})

	t.Run("reconnect to an unknown command", func(t *testing.T) {
		t.Parallel()
		c, _, _ := e.dial(t, e.keyA)
		c.send(map[string]any{"type": "reconnect", "command_id": "nope"})
		if f := c.next(); f["type"] != "error" || f["error_type"] != "CommandNotFound" {
			t.Errorf("frame = %v", f)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		c, _, _ := e.dial(t, e.keyA)
		c.send(execute(`sleep 20`, "cmd-slow", map[string]any{"timeout_seconds": 0.3}))
		c.started()
		if _, _, last := c.drain(); last["type"] != "error" || last["error_type"] != "CommandTimeout" {
			t.Errorf("last frame = %v", last)
		}
	})

	t.Run("stdin, close_stdin and kill", func(t *testing.T) {
		t.Parallel()
		c, _, _ := e.dial(t, e.keyA)
		c.send(execute(`read a; echo "got $a"; cat`, "cmd-in", map[string]any{"close_stdin": false}))
		c.started()
		c.send(map[string]any{"type": "input", "data": "hello\n"})
		if f := c.next(); f["data"] != "got hello\n" {
			t.Fatalf("frame = %v", f)
		}
		c.send(map[string]any{"type": "input", "data": "rest"})
		c.send(map[string]any{"type": "close_stdin"})
		if out, _, last := c.drain(); out != "rest" || last["exit_code"] != 0.0 {
			t.Errorf("after close_stdin: %q %v", out, last)
		}

		k, _, _ := e.dial(t, e.keyA)
		k.send(execute(`exec sleep 20`, "cmd-kill", nil))
		k.started()
		k.send(map[string]any{"type": "kill"})
		if _, _, last := k.drain(); last["type"] != "exit" || last["exit_code"] != 137.0 {
			t.Errorf("after kill: %v", last)
		}
	})

	t.Run("kill_on_disconnect", func(t *testing.T) {
		t.Parallel()
		for _, kill := range []bool{true, false} {
			id := fmt.Sprintf("cmd-kod-%v", kill)
			c, _, _ := e.dial(t, e.keyA)
			c.send(execute(`exec sleep 2`, id, map[string]any{"kill_on_disconnect": kill}))
			c.started()
			c.conn.CloseNow()
			r, _, _ := e.dial(t, e.keyA)
			r.send(map[string]any{"type": "reconnect", "command_id": id})
			r.started()
			want := map[bool]float64{true: 137, false: 0}[kill]
			if _, _, last := r.drain(); last["exit_code"] != want {
				t.Errorf("kill_on_disconnect %v: %v, want exit %v", kill, last, want)
			}
		}
	})

	t.Run("bad first frames", func(t *testing.T) {
		t.Parallel()
		c, _, _ := e.dial(t, e.keyA)
		c.send(map[string]any{"type": "execute", "command": "true", "env": map[string]string{}, "run_config": map[string]any{}})
		if f := c.next(); f["type"] != "error" || f["error_type"] != "CommandError" {
			t.Errorf("frame = %v", f)
		}
		d, _, _ := e.dial(t, e.keyA)
		d.send(map[string]any{"type": "input", "data": "x"})
		if f := d.next(); f["type"] != "error" {
			t.Errorf("frame = %v", f)
		}
	})

	t.Run("the upgrade needs the box's tenant", func(t *testing.T) {
		t.Parallel()
		for key, want := range map[string]int{e.keyB: 404, "": 403} {
			if _, resp, err := e.dial(t, key); err == nil || resp == nil || resp.StatusCode != want {
				t.Errorf("key %q: err %v, response %v, want %d", key, err, resp, want)
			}
		}
	})
}
