package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// On shutdown the server reports not ready at once, keeps serving through
// the delay (load balancers are still catching up), and lets a request in
// flight finish with a live context; then it stops accepting.
func TestShutdownDrainsWhileNotReady(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, filepath.Join(dir, "snapgate.db"), dir)
	h.cfg.ShutdownDelay = 2 * time.Second
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := NewServer(t.Context(), h.cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	var box struct{ ID string }
	t.Cleanup(func() {
		if box.ID != "" {
			_ = srv.engine.KillSandbox(context.Background(), box.ID)
		}
		h.cleanImages()
		srv.Close()
		h.dropNamespace()
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, logger) }()
	base := "http://" + ln.Addr().String()
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("X-Api-Key", h.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := call("GET", "/readyz", ""); code != 200 {
		t.Fatalf("readyz before shutdown = %d %s", code, body)
	}
	code, body := call("POST", "/api/v2/sandboxes/snapshots", `{"name":"drain","docker_image":"`+h.image+`","fs_capacity_bytes":1073741824}`)
	if code != 201 {
		t.Fatalf("create snapshot: %d %s", code, body)
	}
	code, body = call("POST", "/api/v2/sandboxes/boxes", `{"snapshot_name":"drain","wait_for_ready":true}`)
	if code != 201 {
		t.Fatalf("create box: %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &box); err != nil {
		t.Fatal(err)
	}

	// A command that outlasts the signal.
	inflight := make(chan string, 1)
	go func() {
		code, body := call("POST", "/dataplane/"+box.ID+"/execute", `{"command":"sleep 1; echo finished","shell":"/bin/sh"}`)
		inflight <- fmt.Sprintf("%d %s", code, body)
	}()
	time.Sleep(200 * time.Millisecond)
	stop()

	deadline := time.Now().Add(time.Second)
	for {
		code, _ := call("GET", "/readyz", "")
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d a second after shutdown began", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := call("GET", "/healthz", ""); code != 200 {
		t.Errorf("healthz while draining = %d %s, want 200 (the process is alive)", code, body)
	}
	if code, body := call("GET", "/api/v2/sandboxes/snapshots", ""); code != 200 {
		t.Errorf("API call during the shutdown delay = %d %s, want 200", code, body)
	}
	select {
	case got := <-inflight:
		if !strings.HasPrefix(got, "200 ") || !strings.Contains(got, "finished") {
			t.Errorf("request in flight at shutdown: %s, want 200 with its output", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("request in flight at shutdown never answered")
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve = %v, want nil after a clean shutdown", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	if code, _ := call("GET", "/readyz", ""); code != 0 {
		t.Errorf("readyz after shutdown answered %d; the listener should be closed", code)
	}
}
