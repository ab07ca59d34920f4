package langsmith

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/specs"
)

func discardLogger() *slog.Logger { return adaptertest.Logger() }

// newTestServer serves the adapter over a real SQLite store and a fake
// engine, and returns keys of two tenants.
func newTestServer(t *testing.T) (srv *httptest.Server, keyA, keyB string) {
	t.Helper()
	env := adaptertest.New(t)
	spec, err := specs.LangSmith(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Snapshots: env.Snapshots, Sandboxes: env.Sandboxes, Registries: env.Registries,
		Keys: env.Keys, Spec: spec, Logger: discardLogger(), Validate: true, ServiceURLs: env.ServiceURLs, Dataplane: env.Dataplane})
	if err != nil {
		t.Fatal(err)
	}
	return adaptertest.Serve(t, a.Mount, adaptertest.ValidateResponses(spec)), env.KeyA, env.KeyB
}

type reply struct {
	status int
	body   map[string]any
}

func call(t *testing.T, srv *httptest.Server, method, path, key, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
	}
	return reply{resp.StatusCode, out}
}

func detail(r reply) (token, msg string) {
	d, _ := r.body["detail"].(map[string]any)
	token, _ = d["error"].(string)
	msg, _ = d["message"].(string)
	return
}

func TestBadRequestsGetVendorErrors(t *testing.T) {
	srv, key, _ := newTestServer(t)
	cases := []struct {
		name, method, path, key, body string
		status                        int
		token, inMsg                  string
	}{
		{"missing key", "GET", "/v2/sandboxes/snapshots", "", "", 403, "Forbidden", "API key"},
		{"unknown key", "GET", "/api/v2/sandboxes/snapshots", "e2b_" + strings.Repeat("0", 40), "", 403, "Forbidden", "invalid API key"},
		{"missing name", "POST", "/v2/sandboxes/snapshots", key, `{"docker_image":"busybox","fs_capacity_bytes":1}`, 422, "ValidationError", `"name"`},
		{"wrong type", "POST", "/api/v2/sandboxes/snapshots", key, `{"name":"a","docker_image":"busybox","fs_capacity_bytes":"big"}`, 422, "ValidationError", "fs_capacity_bytes"},
		{"two bad fields", "POST", "/v2/sandboxes/snapshots", key, `{"name":5,"docker_image":"busybox"}`, 422, "ValidationError", "fs_capacity_bytes"},
		{"not json", "POST", "/v2/sandboxes/snapshots", key, `{"name":`, 422, "ValidationError", "body"},
		{"limit too big", "GET", "/v2/sandboxes/snapshots?limit=501", key, "", 422, "ValidationError", `"limit"`},
		{"negative offset", "GET", "/v2/sandboxes/snapshots?offset=-1", key, "", 422, "ValidationError", `"offset"`},
		{"unknown snapshot", "GET", "/v2/sandboxes/snapshots/8d7a2c4e-0000-4000-8000-000000000000", key, "", 404, "NotFound", "not found"},
		{"unknown route", "GET", "/api/v2/sandboxes/nope", key, "", 404, "NotFound", "no route"},
		{"name rule", "POST", "/v2/sandboxes/snapshots", key, `{"name":"../x","docker_image":"busybox","fs_capacity_bytes":1}`, 422, "ValidationError", "name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, srv, tc.method, tc.path, tc.key, tc.body)
			token, msg := detail(r)
			if r.status != tc.status || token != tc.token || !strings.Contains(msg, tc.inMsg) {
				t.Errorf("got %d %s %q, want %d %s containing %q", r.status, token, msg, tc.status, tc.token, tc.inMsg)
			}
		})
	}
}

func TestSnapshotRoutesUnderEveryPrefix(t *testing.T) {
	srv, keyA, keyB := newTestServer(t)
	for i, prefix := range Prefixes {
		name := "team/snap-" + string(rune('a'+i))
		r := call(t, srv, "POST", prefix+"/snapshots", keyA, `{"name":"`+name+`","docker_image":"busybox","fs_capacity_bytes":1073741824}`)
		if r.status != 201 || r.body["status"] != "building" {
			t.Fatalf("%s create: %d %v", prefix, r.status, r.body)
		}
		id := r.body["id"].(string)
		escaped := strings.ReplaceAll(name, "/", "%2F")
		for _, ref := range []string{id, escaped} {
			if got := call(t, srv, "GET", prefix+"/snapshots/"+ref, keyA, ""); got.status != 200 || got.body["id"] != id {
				t.Errorf("%s get %s: %d %v", prefix, ref, got.status, got.body)
			}
			if got := call(t, srv, "GET", prefix+"/snapshots/"+ref, keyB, ""); got.status != 404 {
				t.Errorf("%s get %s as other tenant: %d, want 404", prefix, ref, got.status)
			}
		}
		if got := call(t, srv, "POST", prefix+"/snapshots", keyA, `{"name":"`+name+`","docker_image":"busybox","fs_capacity_bytes":1}`); got.status != 409 {
			t.Errorf("%s duplicate: %d, want 409", prefix, got.status)
		}
		list := call(t, srv, "GET", prefix+"/snapshots?name_contains=SNAP-"+string(rune('a'+i)), keyA, "")
		if items, _ := list.body["snapshots"].([]any); list.status != 200 || len(items) != 1 {
			t.Errorf("%s list: %d %v", prefix, list.status, list.body)
		}
		if got := call(t, srv, "DELETE", prefix+"/snapshots/"+id, keyB, ""); got.status != 404 {
			t.Errorf("%s delete as other tenant: %d, want 404", prefix, got.status)
		}
		if got := call(t, srv, "DELETE", prefix+"/snapshots/"+id, keyA, ""); got.status != 204 {
			t.Errorf("%s delete: %d", prefix, got.status)
		}
		if got := call(t, srv, "GET", prefix+"/snapshots/"+id, keyA, ""); got.status != 404 {
			t.Errorf("%s get after delete: %d, want 404", prefix, got.status)
		}
	}
}

func TestTenantHeaderMustMatchKey(t *testing.T) {
	srv, key, _ := newTestServer(t)
	req, _ := http.NewRequest("GET", srv.URL+"/v2/sandboxes/snapshots", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Tenant-Id", "tenant-b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("status = %d, want 403", resp.StatusCode)
	}
	req.Header.Set("X-Tenant-Id", "tenant-a")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("bearer with own tenant: status = %d, want 200", resp.StatusCode)
	}
}

func TestRegistriesNeverReturnPasswords(t *testing.T) {
	srv, keyA, keyB := newTestServer(t)
	r := call(t, srv, "POST", "/api/v2/sandboxes/registries", keyA, `{"name":"internal","url":"https://registry.example.com/v2","username":"robot","password":"hunter2"}`)
	if r.status != 201 {
		t.Fatalf("create: %d %v", r.status, r.body)
	}
	for _, got := range []reply{r, call(t, srv, "GET", "/api/v2/sandboxes/registries/internal", keyA, ""), call(t, srv, "GET", "/api/v2/sandboxes/registries", keyA, "")} {
		raw, _ := json.Marshal(got.body)
		if strings.Contains(string(raw), "hunter2") {
			t.Errorf("password in response: %s", raw)
		}
	}
	if got := call(t, srv, "GET", "/api/v2/sandboxes/registries/internal", keyB, ""); got.status != 404 {
		t.Errorf("other tenant get: %d, want 404", got.status)
	}
	if got := call(t, srv, "POST", "/api/v2/sandboxes/registries", keyA, `{"name":"x","url":"r.example.com","auth_type":"AWS_ROLE"}`); got.status != 422 {
		t.Errorf("AWS_ROLE: %d, want 422", got.status)
	}
	snap := call(t, srv, "POST", "/v2/sandboxes/snapshots", keyB, `{"name":"s","docker_image":"busybox","fs_capacity_bytes":1,"registry_id":"`+r.body["id"].(string)+`"}`)
	if token, msg := detail(snap); snap.status != 422 || token != "ValidationError" || !strings.Contains(msg, "registry_id") {
		t.Errorf("other tenant's registry_id: %d %v", snap.status, snap.body)
	}
	if got := call(t, srv, "DELETE", "/api/v2/sandboxes/registries/internal", keyA, ""); got.status != 204 {
		t.Errorf("delete: %d", got.status)
	}
}
