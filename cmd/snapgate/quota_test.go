package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/core"
)

// quotaReply is a response's status, Retry-After header and JSON body.
type quotaReply struct {
	code       int
	retryAfter []string
	body       map[string]any
}

func (h *harness) doFull(method, path, body string) quotaReply {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.http.URL+path, strings.NewReader(body))
	req.Header.Set("X-Api-Key", h.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := quotaReply{code: resp.StatusCode, retryAfter: resp.Header.Values("Retry-After")}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		h.t.Fatalf("%s %s: %d, body %q is not a JSON object", method, path, resp.StatusCode, raw)
	}
	return r
}

// wantLangSmithQuota checks LangSmith's quota answer: 429, QuotaExceeded,
// the SDK's words in the message, Retry-After 0 (its Python client would
// otherwise wait a second per retry).
func wantLangSmithQuota(t *testing.T, what string, r quotaReply, words string) {
	t.Helper()
	detail, _ := r.body["detail"].(map[string]any)
	msg, _ := detail["message"].(string)
	if r.code != 429 || detail["error"] != "QuotaExceeded" || !strings.Contains(msg, words) {
		t.Errorf("%s: %d %v, want 429 QuotaExceeded with %q", what, r.code, r.body, words)
	}
	if len(r.retryAfter) != 1 || r.retryAfter[0] != "0" {
		t.Errorf("%s: Retry-After %q, want 0", what, r.retryAfter)
	}
}

// wantE2BQuota checks E2B's: 429 {"code":429,"message":…} and no
// Retry-After, which its JS SDK would obey by retrying.
func wantE2BQuota(t *testing.T, what string, r quotaReply, words string) {
	t.Helper()
	msg, _ := r.body["message"].(string)
	if r.code != 429 || r.body["code"] != float64(429) || !strings.Contains(msg, words) {
		t.Errorf("%s: %d %v, want 429 {code:429} with %q", what, r.code, r.body, words)
	}
	if len(r.retryAfter) != 0 {
		t.Errorf("%s: Retry-After %q, want none", what, r.retryAfter)
	}
}

// Requests over a tenant's quota get each vendor's quota error at once and
// leave nothing behind: no row, no container, no image.
func TestQuotasRefuseWithVendorErrorsAndLeaveNothing(t *testing.T) {
	for dbName, db := range databases(t) {
		t.Run(dbName, func(t *testing.T) {
			dir := t.TempDir()
			testQuotas(t, newHarness(t, db(t, dir), dir))
		})
	}
}

func testQuotas(t *testing.T, h *harness) {
	h.cfg.WarmPool = 0 // count containers exactly
	h.cfg.Quotas = core.Quotas{Sandboxes: 1, Snapshots: 2}
	h.start(true)
	ctx := context.Background()
	h.wait(h.create("q-src", h.image, 1<<30))

	code, box := h.do("POST", "/api/v2/sandboxes/boxes", `{"snapshot_name":"q-src","wait_for_ready":true}`)
	if code != 201 {
		t.Fatalf("first box: %d %v", code, box)
	}
	wantLangSmithQuota(t, "LangSmith box over quota",
		h.doFull("POST", "/api/v2/sandboxes/boxes", `{"snapshot_name":"q-src","name":"q-over","wait_for_ready":true}`),
		"sandbox count limit reached: 1 of 1")
	wantE2BQuota(t, "E2B sandbox over quota",
		h.doFull("POST", "/v2/sandboxes", `{"templateID":"q-src","timeout":300}`),
		"sandbox count limit reached: 1 of 1")
	live, err := h.srv.store.ListSandboxes(ctx, h.cfg.BootstrapTenant, core.SandboxFilter{States: []core.SandboxState{
		core.SandboxStarting, core.SandboxRunning, core.SandboxPaused, core.SandboxKilled, core.SandboxFailed,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 {
		t.Errorf("%d sandbox rows after refused creates, want 1", len(live))
	}
	if ids, err := h.srv.engine.ListSandboxContainers(ctx); err != nil || len(ids) != 1 {
		t.Errorf("containers after refused creates: %v %v, want 1", ids, err)
	}

	// Snapshots: the source plus one more fill the quota of two.
	h.wait(h.create("q-two", h.image, 1<<30))
	imagesBefore := len(h.images())
	wantLangSmithQuota(t, "LangSmith snapshot over quota",
		h.doFull("POST", "/api/v2/sandboxes/snapshots", `{"name":"q-three","docker_image":"`+h.image+`","fs_capacity_bytes":1073741824}`),
		"snapshot limit reached: 2 of 2")
	wantE2BQuota(t, "E2B capture over quota",
		h.doFull("POST", "/sandboxes/"+box["id"].(string)+"/snapshots", `{"name":"q-cap"}`),
		"snapshot limit reached: 2 of 2")
	wantLangSmithQuota(t, "LangSmith capture over quota",
		h.doFull("POST", "/api/v2/sandboxes/boxes/"+box["name"].(string)+"/snapshot", `{"name":"q-cap2"}`),
		"snapshot limit reached: 2 of 2")
	snaps, err := h.srv.store.ListSnapshots(ctx, h.cfg.BootstrapTenant, core.SnapshotFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 {
		t.Errorf("%d snapshot rows after refused creates, want 2", len(snaps))
	}
	if got := len(h.images()); got != imagesBefore {
		t.Errorf("%d images after refused creates, want %d", got, imagesBefore)
	}

	// A freed place is usable again.
	if code, _ := h.do("DELETE", "/api/v2/sandboxes/boxes/"+box["name"].(string), ""); code/100 != 2 {
		t.Fatalf("delete box: %d", code)
	}
	sb := h.e2bCreate("q-src")

	// Storage: the two ready snapshots hold more than a 1-byte quota.
	h.cfg.Quotas = core.Quotas{StorageBytes: 1}
	h.restart(true)
	wantLangSmithQuota(t, "LangSmith snapshot over the storage quota",
		h.doFull("POST", "/api/v2/sandboxes/snapshots", `{"name":"q-three","docker_image":"`+h.image+`","fs_capacity_bytes":1073741824}`),
		"storage limit reached: snapshots hold")
	wantE2BQuota(t, "E2B capture over the storage quota",
		h.doFull("POST", "/sandboxes/"+sb+"/snapshots", `{"name":"q-cap"}`),
		"storage limit reached: snapshots hold")
	if snaps, err := h.srv.store.ListSnapshots(ctx, h.cfg.BootstrapTenant, core.SnapshotFilter{}); err != nil || len(snaps) != 2 {
		t.Errorf("snapshots after refusals over the storage quota: %d %v, want 2", len(snaps), err)
	}
	if code, _ := h.do("DELETE", "/sandboxes/"+sb, ""); code != 204 {
		t.Errorf("kill %s: %d", sb, code)
	}
}
