package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/snapgate/snapgate/core"
)

// exec runs argv in a sandbox and returns its stdout.
func (h *harness) exec(id string, argv ...string) string {
	h.t.Helper()
	var out, errb bytes.Buffer
	code, err := h.srv.engine.Exec(context.Background(), id, argv, nil, nil, &out, &errb)
	if err != nil || code != 0 {
		h.t.Fatalf("exec %v in %s: code %d err %v stderr %q", argv, id, code, err, errb.String())
	}
	return out.String()
}

// e2bCreate starts a sandbox through the E2B API and returns its id.
func (h *harness) e2bCreate(template string) string {
	h.t.Helper()
	code, out := h.do("POST", "/v2/sandboxes", `{"templateID":"`+template+`","timeout":300}`)
	if code != 201 {
		h.t.Fatalf("create sandbox from %s: %d %v", template, code, out)
	}
	return out["sandboxID"].(string)
}

func TestCaptureRoundTripThroughBothAPIs(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, filepath.Join(dir, "snapgate.db"), dir)
	h.start(true)
	src := h.wait(h.create("rt-src", h.image, 1<<30))
	sb := h.e2bCreate(src["id"].(string))
	h.exec(sb, "sh", "-c", "mkdir -p /work && echo hello > /work/a.txt && dd if=/dev/urandom of=/work/blob bs=64k count=16 2>/dev/null && rm /etc/group && ln -s a.txt /work/link")
	want := h.exec(sb, "sh", "-c", "sha256sum /work/a.txt /work/blob; readlink /work/link; test -e /etc/group && echo group-present || echo group-absent")

	code, snap := h.do("POST", "/sandboxes/"+sb+"/snapshots", `{"name":"rt-cap"}`)
	if code != 201 {
		t.Fatalf("E2B capture: %d %v", code, snap)
	}
	// The capture is a snapshot for LangSmith too.
	code, ls := h.do("GET", "/api/v2/sandboxes/snapshots/rt-cap", "")
	if code != 200 || ls["status"] != "ready" || ls["source_sandbox_id"] != sb {
		t.Fatalf("LangSmith view of the capture: %d %v", code, ls)
	}
	// The source keeps running and loses nothing.
	if got := h.exec(sb, "cat", "/work/a.txt"); got != "hello\n" {
		t.Errorf("source after capture: %q", got)
	}
	code, box := h.do("POST", "/api/v2/sandboxes/boxes", `{"snapshot_name":"rt-cap","wait_for_ready":true}`)
	if code != 201 {
		t.Fatalf("LangSmith box from the capture: %d %v", code, box)
	}
	got := h.exec(box["id"].(string), "sh", "-c", "sha256sum /work/a.txt /work/blob; readlink /work/link; test -e /etc/group && echo group-present || echo group-absent")
	if got != want || !strings.Contains(got, "group-absent") {
		t.Errorf("restored filesystem differs:\n got %q\nwant %q", got, want)
	}
	for _, id := range []string{sb, box["id"].(string)} {
		if code, _ := h.do("DELETE", "/sandboxes/"+id, ""); code != 204 {
			t.Errorf("kill %s: %d", id, code)
		}
	}
}

// A sandbox killed while it is being captured never leaves a snapshot
// marked ready without its image, nor one stuck building.
func TestKillDuringCaptureLeavesNoHalfSnapshot(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, filepath.Join(dir, "snapgate.db"), dir)
	h.start(true)
	src := h.wait(h.create("kill-src", h.image, 1<<30))
	for i := range 3 {
		sb := h.e2bCreate(src["id"].(string))
		h.exec(sb, "sh", "-c", "dd if=/dev/urandom of=/big bs=1M count=8 2>/dev/null")
		var wg sync.WaitGroup
		var capCode int
		wg.Go(func() {
			capCode, _ = h.do("POST", "/sandboxes/"+sb+"/snapshots", fmt.Sprintf(`{"name":"kill-cap-%d"}`, i))
		})
		h.do("DELETE", "/sandboxes/"+sb, "")
		wg.Wait()
		code, snap := h.do("GET", fmt.Sprintf("/api/v2/sandboxes/snapshots/kill-cap-%d", i), "")
		switch {
		case capCode == 201:
			if code != 200 || snap["status"] != "ready" {
				t.Errorf("run %d: capture answered 201 but snapshot is %d %v", i, code, snap)
			}
			img := core.ImageRefFor(snap["id"].(string))
			if !strings.Contains(strings.Join(h.images(), " "), img) {
				t.Errorf("run %d: ready snapshot without image %s", i, img)
			}
		case code == 200 && snap["status"] != "failed":
			t.Errorf("run %d: capture failed (%d) but snapshot is %v", i, capCode, snap)
		}
		t.Logf("run %d: capture %d, snapshot %d %v", i, capCode, code, snap["status"])
	}
}
