package langsmith

import (
	"strings"
	"testing"
	"time"
)

// dp sends a JSON body to dp-box's dataplane and returns status and body.
func (e *fieldEnv) dp(t *testing.T, op, body string) (int, string) {
	t.Helper()
	resp := e.do(t, "POST", op, e.keyA, strings.NewReader(body), "Content-Type", "application/json")
	return resp.StatusCode, readAll(t, resp)
}

// put writes files into dp-box.
func (e *fieldEnv) put(t *testing.T, files map[string]string) {
	t.Helper()
	for path, content := range files {
		if resp := e.upload(t, path, strings.NewReader(content)); resp.StatusCode != 200 {
			t.Fatalf("upload %s: %d %s", path, resp.StatusCode, readAll(t, resp))
		}
	}
}

// dpWant is a dataplane row checking that body to op answers status with
// a body containing each of want.
func dpWant(honoured, op, body string, status int, want ...string) fieldRow {
	return fieldRow{honoured: honoured, check: func(t *testing.T, e *fieldEnv) {
		e.put(t, map[string]string{"/tmp/fd/a.py": "needle\n", "/tmp/fd/b.py": "needle\n", "/tmp/fd/c.txt": "needle\n"})
		st, got := e.dp(t, op, body)
		if st != status {
			t.Fatalf("%s %s: %d %s, want %d", op, body, st, got, status)
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s %s: %s, want it to contain %s", op, body, got, w)
			}
		}
	}}
}

// dpUnknown is the "*" row of a dataplane operation: its error token.
func dpUnknown(op, body, token string) fieldRow {
	return fieldRow{refused: "400 " + token + " naming the field", check: func(t *testing.T, e *fieldEnv) {
		st, got := e.dp(t, op, withUnknown(body))
		if st != 400 || !strings.Contains(got, `"error":"`+token+`"`) || !strings.Contains(got, "persistent") {
			t.Errorf("%d %s, want 400 %s naming persistent", st, got, token)
		}
	}}
}

// dpPath is the ?path row of the file routes.
func dpPath(method string) fieldRow {
	return fieldRow{honoured: "the file acted on (absolute, or relative to home)", check: func(t *testing.T, e *fieldEnv) {
		e.put(t, map[string]string{"/tmp/fd/up.txt": "uploaded"})
		resp := e.do(t, method, "/download?path=/tmp/fd/up.txt", e.keyA, nil)
		if body := readAll(t, resp); resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "8" || (method == "GET" && body != "uploaded") {
			t.Errorf("%s /tmp/fd/up.txt: %d %q", method, resp.StatusCode, body)
		}
		if resp := e.do(t, method, "/download?path=/tmp/fd/none", e.keyA, nil); resp.StatusCode != 404 {
			t.Errorf("%s a missing path: %d, want 404", method, resp.StatusCode)
		}
	}}
}

var dataplaneFields = map[string]opFields{
	"dataplaneExecute": {
		"command": dpWant("run as [shell, -c, command]", "/execute", `{"command":"echo hi; exit 3"}`, 200, `"stdout":"hi\n"`, `"exit_code":3`),
		"timeout": {honoured: "the command is killed after it: 408 CommandError", check: func(t *testing.T, e *fieldEnv) {
			start := time.Now()
			if st, got := e.dp(t, "/execute", `{"command":"sleep 20","timeout":0.3}`); st != 408 || !strings.Contains(got, "CommandError") {
				t.Errorf("%d %s, want 408 CommandError", st, got)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("answered after %v", d)
			}
		}},
		"shell":      dpWant("the shell the command runs in ($0)", "/execute", `{"command":"echo $0","shell":"/bin/sh"}`, 200, `"stdout":"/bin/sh\n"`),
		"env":        dpWant("the command's environment", "/execute", `{"command":"echo $FD","env":{"FD":"x1"}}`, 200, `"stdout":"x1\n"`),
		"cwd":        dpWant("the command's working directory", "/execute", `{"command":"ls","cwd":"/tmp/fd"}`, 200, `a.py`),
		"run_config": dpWant("the command's environment and working directory (user too)", "/execute", `{"command":"echo $FD; ls","run_config":{"env_vars":{"FD":"rc"},"work_dir":"/tmp/fd"}}`, 200, `rc\n`, `a.py`),
		"*":          dpUnknown("/execute", `{"command":"true"}`, "CommandError"),
	},
	"dataplaneExecuteWebSocket": {},
	"dataplaneUpload": {"?path": {honoured: "where the file is written", check: func(t *testing.T, e *fieldEnv) {
		e.put(t, map[string]string{"/tmp/fd/new.txt": "written"})
		if resp := e.do(t, "GET", "/download?path=/tmp/fd/new.txt", e.keyA, nil); readAll(t, resp) != "written" {
			t.Error("the uploaded file is not at its path")
		}
	}}},
	"dataplaneDownload": {"?path": dpPath("GET")},
	"dataplaneStat":     {"?path": dpPath("HEAD")},
	"dataplaneGlob": {
		"pattern": dpWant("what entries match", "/glob", `{"pattern":"*.py","path":"/tmp/fd"}`, 200, `"path":"/tmp/fd/a.py"`, `"path":"/tmp/fd/b.py"`),
		"path":    dpWant("the directory searched", "/glob", `{"pattern":"*","path":"/tmp/fd"}`, 200, `"path":"/tmp/fd/c.txt"`),
		"limit":   dpWant("caps the matches (truncated)", "/glob", `{"pattern":"*","path":"/tmp/fd","limit":1}`, 200, `"truncated":true`),
		"*":       dpUnknown("/glob", `{"pattern":"*","path":"/tmp/fd"}`, "ReadError"),
	},
	"dataplaneGrep": {
		"pattern": dpWant("the text searched for", "/grep", `{"pattern":"needle","path":"/tmp/fd"}`, 200, `"text":"needle"`),
		"path":    dpWant("the directory searched", "/grep", `{"pattern":"needle","path":"/tmp/fd"}`, 200, `"path":"/tmp/fd/c.txt"`),
		"glob":    dpWant("which files are searched", "/grep", `{"pattern":"needle","path":"/tmp/fd","glob":"*.txt"}`, 200, `"matches":[{"line":1,"path":"/tmp/fd/c.txt"`),
		"limit":   dpWant("caps the matches (truncated)", "/grep", `{"pattern":"needle","path":"/tmp/fd","limit":1}`, 200, `"truncated":true`),
		"*":       dpUnknown("/grep", `{"pattern":"x","path":"/tmp/fd"}`, "ReadError"),
	},
}
