package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// logBuffer collects a server's log lines, safe for its goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the JSON log records whose msg is msg.
func (l *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// send makes one request with exactly these headers.
func (h *harness) send(method, path, body string, headers map[string]string) int {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.http.URL+path, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// Every credential a client sends (API keys in X-Api-Key, X-API-KEY and
// Authorization, envd access tokens, signed-URL signatures), good or bad,
// reaches the server's log nowhere, even at debug level; while the access
// log still carries request id, tenant, sandbox and snapshot.
func TestLogsNeverCarryKeysOrTokens(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, filepath.Join(dir, "snapgate.db"), dir)
	var logs logBuffer
	h.logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.start(true)
	snap := h.wait(h.create("logs", h.image, 1<<30))["id"].(string)
	code, box := h.do("POST", "/sandboxes", `{"templateID":"`+snap+`","timeout":300}`)
	if code != 201 {
		t.Fatalf("create sandbox: %d %v", code, box)
	}
	sb, token := box["sandboxID"].(string), box["envdAccessToken"].(string)

	const (
		wrongKey   = "e2b_0123456789abcdef0123456789abcdef01234567"
		wrongToken = "token-that-must-not-be-logged-6f1c"
		signature  = "v1_signature-that-must-not-be-logged-93ab"
	)
	envd := func(hdr map[string]string) map[string]string {
		hdr["E2b-Sandbox-Id"] = sb
		return hdr
	}
	requests := []struct {
		method, path, body string
		headers            map[string]string
		status             int
	}{
		{"GET", "/api/v2/sandboxes/snapshots/" + snap, "", map[string]string{"X-Api-Key": h.key}, 200},
		{"GET", "/v2/sandboxes/snapshots", "", map[string]string{"Authorization": "Bearer " + h.key}, 200},
		{"GET", "/api/v2/sandboxes/snapshots", "", map[string]string{"X-Api-Key": wrongKey}, 403},
		{"GET", "/sandboxes/" + sb, "", map[string]string{"X-API-KEY": h.key}, 200},
		{"GET", "/v2/sandboxes", "", map[string]string{"X-API-KEY": wrongKey}, 401},
		{"DELETE", "/templates/" + snap, "", map[string]string{"Authorization": "Bearer " + wrongKey}, 401},
		{"GET", "/files?path=/etc/group", "", envd(map[string]string{"X-Access-Token": token}), 200},
		{"GET", "/files?path=/etc/group", "", envd(map[string]string{"X-Access-Token": wrongToken}), 401},
		{"GET", "/files?path=/etc/group&signature=" + signature + "&signature_expiration=9999999999", "", envd(map[string]string{}), 401},
		{"POST", "/process.Process/List", "{}", envd(map[string]string{
			"X-Access-Token": token, "Content-Type": "application/json", "Authorization": "Basic cm9vdDo=",
		}), 200},
		{"GET", "/dataplane/" + sb + "/download?path=/etc/group", "", map[string]string{"X-Api-Key": h.key}, 200},
		{"GET", "/dataplane/" + sb + "/download?path=/etc/group", "", map[string]string{"X-Api-Key": wrongKey}, 403},
	}
	for _, r := range requests {
		if got := h.send(r.method, r.path, r.body, r.headers); got != r.status {
			t.Errorf("%s %s = %d, want %d", r.method, r.path, got, r.status)
		}
	}
	if code, _ := h.do("DELETE", "/sandboxes/"+sb, ""); code != 204 {
		t.Errorf("kill sandbox = %d", code)
	}
	h.http.Close() // waits for every handler, so every access log line is written

	out := logs.String()
	for what, secret := range map[string]string{
		"API key": h.key, "wrong API key": wrongKey, "envd access token": token,
		"wrong access token": wrongToken, "signature": signature,
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds the %s %q:\n%s", what, secret, grepLines(out, secret))
		}
	}

	// What the access log must hold, by route.
	want := map[string]map[string]string{
		"/api/v2/sandboxes/snapshots/:snapshot_ref": {"tenant": "it", "snapshot": snap},
		"/sandboxes/:sandboxID":                     {"tenant": "it", "sandbox": sb},
		"/files":                                    {"sandbox": sb},
		"/dataplane/:box/download":                  {"tenant": "it", "sandbox": sb},
	}
	seen := map[string]bool{}
	for _, rec := range logs.lines(t, "request") {
		route, _ := rec["route"].(string)
		if id, _ := rec["request_id"].(string); id == "" {
			t.Errorf("access log line without request_id: %v", rec)
		}
		attrs, ok := want[route]
		if !ok || rec["status"].(float64) >= 400 {
			continue
		}
		seen[route] = true
		for k, v := range attrs {
			if rec[k] != v {
				t.Errorf("access log of %s: %s = %v, want %q", route, k, rec[k], v)
			}
		}
	}
	for route := range want {
		if !seen[route] {
			t.Errorf("no successful request to %s in the access log", route)
		}
	}
}

// grepLines returns the lines of out that contain s.
func grepLines(out, s string) string {
	var hit []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, s) {
			hit = append(hit, line)
		}
	}
	return strings.Join(hit, "\n")
}
