package envd

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

// run starts cmd like the SDK's commands.run (bash -l -c cmd) and returns
// the pid, stdout, stderr, the end event and the end-stream message.
func run(t *testing.T, h *harness, msg string, extra map[string]string) (pid float64, stdout, stderr string, end map[string]any, endStream string) {
	t.Helper()
	c := h.stream(t, "process.Process/Start", msg, extra)
	if c.status != 200 {
		t.Fatalf("status %d", c.status)
	}
	msgs, endStream := c.rest(t)
	for i, m := range msgs {
		ev := jsonOf(t, m)["event"].(map[string]any)
		switch {
		case ev["start"] != nil:
			if i != 0 {
				t.Errorf("start is message %d", i)
			}
			pid, _ = ev["start"].(map[string]any)["pid"].(float64)
		case ev["data"] != nil:
			d := ev["data"].(map[string]any)
			for k, v := range d {
				b, err := base64.StdEncoding.DecodeString(v.(string))
				if err != nil {
					t.Fatalf("data %s not base64: %v", m, err)
				}
				if k == "stdout" {
					stdout += string(b)
				} else {
					stderr += string(b)
				}
			}
		case ev["end"] != nil:
			if i != len(msgs)-1 {
				t.Errorf("end is message %d of %d", i, len(msgs))
			}
			end = ev["end"].(map[string]any)
		case ev["keepalive"] != nil:
		default:
			t.Errorf("unknown event %s", m)
		}
	}
	if len(msgs) == 0 {
		t.Logf("no events; end-stream %s", endStream)
	}
	return pid, stdout, stderr, end, endStream
}

func bashMsg(cmd string, more string) string {
	return fmt.Sprintf(`{"process":{"cmd":"/bin/bash","args":["-l","-c",%q]%s},"stdin":false}`, cmd, more)
}

func TestStartStreamsEvents(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name, msg      string
		stdout, stderr string
		end            string
		user           string
	}{
		{"success", bashMsg("echo hi; echo oops >&2", ""), "hi\n", "oops\n", `map[exited:true status:exit status 0]`, ""},
		{"exit code", bashMsg("echo out; exit 3", ""), "out\n", "", `map[error:exit status 3 exitCode:3 exited:true status:exit status 3]`, ""},
		{"no such command", bashMsg("no-such-command-xyz", ""), "", "", `map[error:exit status 127 exitCode:127 exited:true status:exit status 127]`, ""},
		{"env and cwd", bashMsg(`echo "$GREETING $HOME $USER $(pwd)"`, `,"envs":{"GREETING":"hello"},"cwd":"/tmp"`), "hello /home/user user " + "", "", `map[exited:true status:exit status 0]`, ""},
		{"as root", bashMsg(`echo "$USER $HOME"`, ""), "root /root\n", "", `map[exited:true status:exit status 0]`, "Basic cm9vdDo="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			extra := map[string]string{"Keepalive-Ping-Interval": "50", "Connect-Timeout-Ms": "60000"}
			if tc.user != "" {
				extra["Authorization"] = tc.user
			}
			pid, stdout, stderr, end, endStream := run(t, h, tc.msg, extra)
			if pid < 1 {
				t.Errorf("pid %v", pid)
			}
			if tc.name == "env and cwd" {
				// The host process runs in the sandbox's /tmp on the host.
				if !strings.HasPrefix(stdout, tc.stdout) || !strings.HasSuffix(stdout, "/tmp\n") {
					t.Errorf("stdout %q", stdout)
				}
			} else if stdout != tc.stdout {
				t.Errorf("stdout %q, want %q", stdout, tc.stdout)
			}
			if tc.stderr != "" && stderr != tc.stderr {
				t.Errorf("stderr %q, want %q", stderr, tc.stderr)
			}
			if got := fmt.Sprint(end); got != tc.end {
				t.Errorf("end %s, want %s", got, tc.end)
			}
			if endStream != "{}" {
				t.Errorf("end-stream %s", endStream)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name, msg, inEnd string
	}{
		{"missing cwd", bashMsg("true", `,"cwd":"/nope"`), `"code":"invalid_argument"`},
		{"pty", `{"process":{"cmd":"/bin/bash","args":["-i","-l"]},"pty":{"size":{"cols":80,"rows":24}}}`, `"code":"unimplemented"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := h.stream(t, "process.Process/Start", tc.msg, nil)
			msgs, end := c.rest(t)
			if c.status != 200 || len(msgs) != 0 || !strings.Contains(end, tc.inEnd) {
				t.Errorf("got %d %q %s, want only an end-stream with %s", c.status, msgs, end, tc.inEnd)
			}
		})
	}
}

// Connect-Timeout-Ms kills the command and ends the stream with
// deadline_exceeded (the SDK's TimeoutError), with no end event.
func TestStartTimeout(t *testing.T) {
	h := newHarness(t)
	start := time.Now()
	_, _, _, end, endStream := run(t, h, bashMsg("echo started; sleep 30", ""), map[string]string{"Connect-Timeout-Ms": "500"})
	if end != nil || !strings.Contains(endStream, `"code":"deadline_exceeded"`) {
		t.Errorf("end %v, end-stream %s; want deadline_exceeded only", end, endStream)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	if r := h.unary(t, "process.Process/List", `{}`, nil); strings.Contains(string(r.raw), "sleep 30") {
		t.Errorf("still running: %s", r.raw)
	}
}

// A command whose sandbox is killed under it ends as envd's stream does
// when envd dies with the sandbox: with an error the SDK turns into
// TimeoutError, not an end event it would turn into CommandExitError.
func TestStartEndsUnavailableWhenSandboxKilled(t *testing.T) {
	h := newHarness(t)
	c := h.stream(t, "process.Process/Start", bashMsg("sleep 30", ""), nil)
	if first, _ := c.next(t); !strings.Contains(first, `"start"`) {
		t.Fatalf("first message %s, want start", first)
	}
	h.eng.killSandboxProcesses()
	msgs, endStream := c.rest(t)
	if strings.Contains(strings.Join(msgs, ""), `"end"`) || !strings.Contains(endStream, `"code":"unavailable"`) {
		t.Errorf("messages %q, end-stream %s; want unavailable and no end event", msgs, endStream)
	}
	// A command killing itself still has an end event.
	_, _, _, end, endStream := run(t, h, bashMsg("kill -9 $$", ""), nil)
	if end == nil || strings.Contains(endStream, "unavailable") {
		t.Errorf("kill -9 $$: end %v, end-stream %s; want an end event", end, endStream)
	}
}

func TestBackgroundStdinSignalList(t *testing.T) {
	h := newHarness(t)
	// A background command with stdin: read the pid, then drive it.
	c := h.stream(t, "process.Process/Start", `{"process":{"cmd":"/bin/bash","args":["-l","-c","cat; echo done"]},"tag":"t1","stdin":true}`, nil)
	first, _ := c.next(t)
	pid := jsonOf(t, first)["event"].(map[string]any)["start"].(map[string]any)["pid"].(float64)

	list := h.unary(t, "process.Process/List", `{}`, nil)
	procs, _ := list.body["processes"].([]any)
	if list.status != 200 || len(procs) != 1 {
		t.Fatalf("list: %d %s", list.status, list.raw)
	}
	p := procs[0].(map[string]any)
	cfg := p["config"].(map[string]any)
	if p["pid"] != pid || p["tag"] != "t1" || cfg["args"].([]any)[2] != "cat; echo done" {
		t.Errorf("list entry %v", p)
	}

	sel := fmt.Sprintf(`{"pid":%v}`, pid)
	if r := h.unary(t, "process.Process/SendInput", `{"process":`+sel+`,"input":{"stdin":"aGV5Cg=="}}`, nil); r.status != 200 || string(r.raw) != "{}" {
		t.Fatalf("send input: %d %s", r.status, r.raw)
	}
	if r := h.unary(t, "process.Process/CloseStdin", `{"process":`+sel+`}`, nil); r.status != 200 {
		t.Fatalf("close stdin: %d %s", r.status, r.raw)
	}
	msgs, endStream := c.rest(t)
	if out := stdoutOf(t, msgs); out != "hey\ndone\n" || endStream != "{}" {
		t.Errorf("stream after stdin: %q / %s", out, endStream)
	}
	// A late Connect replays the output and the end.
	_, stdout, _, end, _ := connectTo(t, h, sel)
	if stdout != "hey\ndone\n" || end["exited"] != true {
		t.Errorf("connect after exit: %q %v", stdout, end)
	}
	// Writing to an exited process fails.
	if r := h.unary(t, "process.Process/SendInput", `{"process":`+sel+`,"input":{"stdin":"aGV5"}}`, nil); r.status != 400 || r.body["code"] != "failed_precondition" {
		t.Errorf("send input after exit: %d %s", r.status, r.raw)
	}

	// SIGKILL a sleeping command by tag and by pid.
	c = h.stream(t, "process.Process/Start", `{"process":{"cmd":"/bin/bash","args":["-l","-c","sleep 30"]},"tag":"sleeper"}`, nil)
	first, _ = c.next(t)
	pid = jsonOf(t, first)["event"].(map[string]any)["start"].(map[string]any)["pid"].(float64)
	if r := h.unary(t, "process.Process/SendSignal", `{"process":{"tag":"sleeper"},"signal":"SIGNAL_SIGKILL"}`, nil); r.status != 200 {
		t.Fatalf("kill: %d %s", r.status, r.raw)
	}
	msgs, _ = c.rest(t)
	last := jsonOf(t, msgs[len(msgs)-1])["event"].(map[string]any)["end"]
	if fmt.Sprint(last) != "map[error:signal: killed exitCode:-1 status:signal: killed]" {
		t.Errorf("end after kill: %v", last)
	}
	// Unknown processes are not_found: the SDK's kill() returns false.
	for m, body := range map[string]string{
		"SendSignal": `{"process":{"pid":99999},"signal":"SIGNAL_SIGKILL"}`,
		"CloseStdin": `{"process":{"pid":99999}}`,
	} {
		r := h.unary(t, "process.Process/"+m, body, nil)
		if r.status != 404 || r.body["code"] != "not_found" {
			t.Errorf("%s of unknown pid: %d %s", m, r.status, r.raw)
		}
	}
	if r := h.unary(t, "process.Process/Update", `{"process":{"pid":1}}`, nil); r.status != 501 || r.body["code"] != "unimplemented" {
		t.Errorf("update: %d %s", r.status, r.raw)
	}
}

func connectTo(t *testing.T, h *harness, sel string) (float64, string, string, map[string]any, string) {
	t.Helper()
	c := h.stream(t, "process.Process/Connect", `{"process":`+sel+`}`, map[string]string{"Keepalive-Ping-Interval": "50"})
	msgs, endStream := c.rest(t)
	var stdout, stderr string
	var end map[string]any
	pid := jsonOf(t, msgs[0])["event"].(map[string]any)["start"].(map[string]any)["pid"].(float64)
	for _, m := range msgs[1:] {
		ev := jsonOf(t, m)["event"].(map[string]any)
		if d, ok := ev["data"].(map[string]any); ok {
			b, _ := base64.StdEncoding.DecodeString(fmt.Sprint(d["stdout"]))
			stdout += string(b)
		}
		if e, ok := ev["end"].(map[string]any); ok {
			end = e
		}
	}
	return pid, stdout, stderr, end, endStream
}

func TestKeepalive(t *testing.T) {
	h := newHarness(t)
	c := h.stream(t, "process.Process/Start", bashMsg("sleep 1.5; echo x", ""), map[string]string{"Keepalive-Ping-Interval": "1"})
	msgs, _ := c.rest(t)
	if !strings.Contains(strings.Join(msgs, ""), `{"event":{"keepalive":{}}}`) {
		t.Errorf("no keepalive in %q", msgs)
	}
}

// stdoutOf joins the stdout of data events (chunking is free).
func stdoutOf(t *testing.T, msgs []string) string {
	t.Helper()
	var out string
	for _, m := range msgs {
		d, _ := jsonOf(t, m)["event"].(map[string]any)["data"].(map[string]any)
		if s, ok := d["stdout"].(string); ok {
			b, _ := base64.StdEncoding.DecodeString(s)
			out += string(b)
		}
	}
	return out
}
