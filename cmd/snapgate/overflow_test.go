package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/adapters/edge"
)

// The attack: an integer past what the server's types hold (2^63 and up,
// or 2^31 for E2B's int32 timeouts) that slips through validation, which
// compares numbers as float64, and then wraps around: a huge idle TTL
// becomes a negative or a few-seconds deadline, or a value the handler
// ignores is accepted and dropped. Each must be refused with the vendor's
// validation status (LangSmith 422, E2B 400) naming the field, and never
// reach the store.
func TestOverflowingIntegersAreRefused(t *testing.T) {
	t.Parallel()
	r, key := vendorRouter(t, edge.Options{Logger: adaptertest.Logger(), BodyLimit: 1 << 20})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	const (
		two64 = "18446744073709551616"
		two63 = "9223372036854775808"
		neg   = "-9223372036854775809"
		two31 = "2147483648"
		exp   = "1e19" // an integer in exponent form
		// Fits int64 and is a multiple of 60, but not in a time.Duration.
		hugeTTL = "9223372036854775740"
	)
	box := `"name":"ovf",`
	snap := `"name":"ovf","docker_image":"busybox",`
	cases := []struct {
		method, path, prefix, field, value string
		status                             int
	}{
		{"PATCH", "/v2/sandboxes/boxes/ovf", "", "idle_ttl_seconds", two64, 422},
		{"PATCH", "/v2/sandboxes/boxes/ovf", "", "idle_ttl_seconds", two63, 422},
		{"PATCH", "/v2/sandboxes/boxes/ovf", "", "delete_after_stop_seconds", two64, 422},
		{"POST", "/v2/sandboxes/boxes", box, "idle_ttl_seconds", two64, 422},
		{"POST", "/v2/sandboxes/boxes", box, "idle_ttl_seconds", hugeTTL, 422},
		{"POST", "/v2/sandboxes/boxes", box, "delete_after_stop_seconds", two63, 422},
		{"POST", "/v2/sandboxes/boxes", box, "timeout", two64, 422},
		{"POST", "/v2/sandboxes/boxes", box, "vcpus", two63, 422},
		{"POST", "/v2/sandboxes/boxes", box, "mem_bytes", two63, 422},
		{"POST", "/v2/sandboxes/boxes", box, "mem_bytes", exp, 422},
		{"POST", "/v2/sandboxes/boxes", box, "fs_capacity_bytes", two64, 422},
		{"POST", "/v2/sandboxes/boxes", box, "fs_capacity_bytes", neg, 422},
		{"POST", "/v2/sandboxes/snapshots", snap, "fs_capacity_bytes", two63, 422},
		{"POST", "/v2/sandboxes/boxes/ovf/snapshot", `"name":"cap",`, "fs_capacity_bytes", two64, 422},
		{"POST", "/sandboxes", `"templateID":"base",`, "timeout", two31, 400},
		{"POST", "/v2/sandboxes", `"templateID":"base",`, "timeout", two64, 400},
		{"POST", "/sandboxes/inope/timeout", "", "timeout", two63, 400},
		{"POST", "/sandboxes/inope/connect", "", "timeout", two31, 400},
		{"POST", "/v2/sandboxes/inope/connect", "", "timeout", two64, 400},
		{"POST", "/sandboxes/inope/resume", "", "timeout", two31, 400},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %s %s=%s", tc.method, tc.path, tc.field, tc.value), func(t *testing.T) {
			t.Parallel()
			body := fmt.Sprintf(`{%s"%s":%s}`, tc.prefix, tc.field, tc.value)
			status, raw := send(t, srv.URL, tc.method, tc.path, key, body)
			if status != tc.status {
				t.Fatalf("status %d %s, want %d", status, raw, tc.status)
			}
			var e struct {
				Detail  struct{ Error, Message string } `json:"detail"`
				Message string                          `json:"message"`
			}
			if err := json.Unmarshal([]byte(raw), &e); err != nil {
				t.Fatalf("body %s: %v", raw, err)
			}
			msg := e.Detail.Message + e.Message
			if !strings.Contains(msg, `"`+tc.field+`"`) && !strings.Contains(msg, tc.field+" ") {
				t.Errorf("message %q does not name the field %s", msg, tc.field)
			}
		})
	}
	// Nothing was stored by the refused creates.
	if status, raw := send(t, srv.URL, "GET", "/v2/sandboxes/boxes/ovf", key, ""); status != http.StatusNotFound {
		t.Errorf("box ovf after refused creates: %d %s, want 404", status, raw)
	}
	if status, raw := send(t, srv.URL, "GET", "/v2/sandboxes/snapshots?name_contains=ovf", key, ""); status != http.StatusOK || strings.Contains(raw, `"ovf"`) {
		t.Errorf("snapshots after refused creates: %d %s, want none named ovf", status, raw)
	}
}

func send(t *testing.T, base, method, path, key, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}
