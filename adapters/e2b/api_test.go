package e2b

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/specs"
)

func discardLogger() *slog.Logger { return adaptertest.Logger() }

// testEnv is the adapter served over a real SQLite store and the fake
// engine, with keys of two tenants and a ready image snapshot of tenant A.
type testEnv struct {
	env        *adaptertest.Env // core, for looking at what a request did
	srv        *httptest.Server
	keyA, keyB string
	snapID     string // tenant A's image snapshot "img"
}

func newTestEnv(t *testing.T) *testEnv { t.Helper(); return newTestEnvWith(t, true) }

// newTestEnvWith serves the adapter with request validation on or off.
func newTestEnvWith(t *testing.T, validate bool) *testEnv {
	t.Helper()
	ctx := t.Context()
	env := adaptertest.New(t)
	e := &testEnv{env: env, keyA: env.KeyA, keyB: env.KeyB}
	keys, snaps, boxes := env.Keys, env.Snapshots, env.Sandboxes

	p, err := keys.Authenticate(ctx, e.keyA, "")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := snaps.Create(core.WithPrincipal(ctx, p), core.CreateSnapshotRequest{Name: "img", DockerImage: "busybox", FSCapacityBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	e.snapID = snap.ID

	spec, err := specs.E2B(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Sandboxes: boxes, Snapshots: snaps, Metrics: env.Metrics, Keys: keys, Spec: spec, Logger: discardLogger(), Validate: validate})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = adaptertest.Serve(t, a.Mount, adaptertest.ValidateResponses(spec))
	return e
}

type reply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any // object bodies
	list   []any          // array bodies
}

func (e *testEnv) call(t *testing.T, method, path, key, body string) reply {
	t.Helper()
	return e.do(t, method, path, body, func(h http.Header) {
		if key != "" {
			h.Set("X-API-KEY", key)
		}
	})
}

func (e *testEnv) do(t *testing.T, method, path, body string, headers func(http.Header)) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	headers(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header}
	r.raw, _ = io.ReadAll(resp.Body)
	if len(r.raw) > 0 {
		var v any
		if err := json.Unmarshal(r.raw, &v); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, r.raw)
		}
		r.body, _ = v.(map[string]any)
		r.list, _ = v.([]any)
	}
	return r
}

// errorOf checks an E2B error body and returns its message.
func errorOf(t *testing.T, r reply) string {
	t.Helper()
	code, _ := r.body["code"].(float64)
	msg, _ := r.body["message"].(string)
	if int(code) != r.status || msg == "" || len(r.body) != 2 {
		t.Errorf("error body %s does not carry code %d and a message", r.raw, r.status)
	}
	return msg
}

// create starts a sandbox of tenant A and returns its id.
func (e *testEnv) create(t *testing.T, body string) string {
	t.Helper()
	r := e.call(t, "POST", "/v2/sandboxes", e.keyA, body)
	if r.status != 201 {
		t.Fatalf("create %s: %d %s", body, r.status, r.raw)
	}
	return r.body["sandboxID"].(string)
}

func TestAuthErrors(t *testing.T) {
	e := newTestEnv(t)
	cases := []struct {
		name    string
		headers func(http.Header)
		status  int
		inMsg   string
	}{
		{"missing key", func(http.Header) {}, 401, "API key"},
		{"unknown key", func(h http.Header) { h.Set("X-API-KEY", "e2b_"+strings.Repeat("0", 40)) }, 401, "invalid API key"},
		{"garbage key", func(h http.Header) { h.Set("x-api-key", "nope") }, 401, "invalid API key"},
		{"lowercase header", func(h http.Header) { h["x-api-key"] = []string{e.keyA} }, 200, ""},
		{"bearer", func(h http.Header) { h.Set("Authorization", "Bearer "+e.keyA) }, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/v2/sandboxes", "/snapshots"} {
				r := e.do(t, "GET", path, "", tc.headers)
				if r.status != tc.status {
					t.Fatalf("%s: status %d, want %d (%s)", path, r.status, tc.status, r.raw)
				}
				if tc.status != 200 {
					if msg := errorOf(t, r); !strings.Contains(msg, tc.inMsg) {
						t.Errorf("%s: message %q, want it to contain %q", path, msg, tc.inMsg)
					}
				}
			}
		})
	}
	// Auth runs before validation: a bad body without a key is still 401.
	if r := e.call(t, "POST", "/v2/sandboxes", "", `{"timeout":"x"}`); r.status != 401 {
		t.Errorf("bad body without key: %d, want 401", r.status)
	}
}

func TestBadRequests(t *testing.T) {
	e := newTestEnv(t)
	id := e.create(t, `{"templateID":"img"}`)
	cases := []struct {
		name, method, path, body string
		status                   int
		inMsg                    string
	}{
		{"negative timeout", "POST", "/v2/sandboxes", `{"templateID":"img","timeout":-5}`, 400, "timeout"},
		{"timeout too long", "POST", "/sandboxes", `{"templateID":"img","timeout":86401}`, 400, "timeout"},
		{"zero timeout", "POST", "/v2/sandboxes", `{"templateID":"img","timeout":0}`, 400, "at least 1 second"},
		{"timeout not a number", "POST", "/v2/sandboxes", `{"templateID":"img","timeout":"60"}`, 400, "timeout"},
		{"metadata not strings", "POST", "/v2/sandboxes", `{"templateID":"img","metadata":{"a":1}}`, 400, "metadata"},
		{"envVars not strings", "POST", "/sandboxes", `{"templateID":"img","envVars":{"A":true}}`, 400, "envVars"},
		{"missing templateID", "POST", "/v2/sandboxes", `{"timeout":60}`, 400, "templateID"},
		{"secure not bool", "POST", "/sandboxes", `{"templateID":"img","secure":"yes"}`, 400, "secure"},
		{"not json", "POST", "/v2/sandboxes", `{"templateID":`, 400, "body"},
		{"network host name in denyOut", "POST", "/v2/sandboxes", `{"templateID":"img","network":{"denyOut":["example.com"]}}`, 400, "network.denyOut"},
		{"network allowOut neither address nor name", "POST", "/v2/sandboxes", `{"templateID":"img","network":{"allowOut":["exa mple.com"]}}`, 400, "network.allowOut"},
		{"network egress proxy", "POST", "/v2/sandboxes", `{"templateID":"img","network":{"egressProxy":{"address":"p:1"}}}`, 400, "network.egressProxy"},
		{"network unknown field", "POST", "/v2/sandboxes", `{"templateID":"img","network":{"persistent":true}}`, 400, "persistent"},
		{"auto resume", "POST", "/v2/sandboxes", `{"templateID":"img","autoPause":true,"autoResume":{"enabled":true}}`, 400, "autoResume"},
		{"fs-only auto pause", "POST", "/v2/sandboxes", `{"templateID":"img","autoPause":true,"autoPauseMemory":false}`, 400, "autoPauseMemory"},
		{"unknown template", "POST", "/v2/sandboxes", `{"templateID":"nope"}`, 404, "not found"},
		{"limit zero", "GET", "/v2/sandboxes?limit=0", "", 400, `"limit"`},
		{"limit too big", "GET", "/v2/sandboxes?limit=101", "", 400, `"limit"`},
		{"bad state", "GET", "/v2/sandboxes?state=running,dead", "", 400, `"state"`},
		{"bad token", "GET", "/v2/sandboxes?nextToken=zzz", "", 400, "nextToken"},
		{"order sideways", "GET", "/v2/sandboxes?order=sideways", "", 400, "order"},
		{"startedAfter not a time", "GET", "/v2/sandboxes?startedAfter=yesterday", "", 400, "startedAfter"},
		{"template no snapshot can have", "GET", "/v2/sandboxes?template=a%2F..%2Fb", "", 400, "template"},
		{"snapshot limit", "GET", "/snapshots?limit=500", "", 400, `"limit"`},
		{"snapshot token", "GET", "/snapshots?nextToken=x", "", 400, "nextToken"},
		{"connect v1 needs timeout", "POST", "/sandboxes/" + id + "/connect", `{}`, 400, "timeout"},
		{"connect reboot", "POST", "/v2/sandboxes/" + id + "/connect", `{"memory":false}`, 400, "memory"},
		{"set timeout missing", "POST", "/sandboxes/" + id + "/timeout", `{}`, 400, "timeout"},
		{"set timeout negative", "POST", "/sandboxes/" + id + "/timeout", `{"timeout":-1}`, 400, "timeout"},
		{"fs-only pause", "POST", "/sandboxes/" + id + "/pause", `{"memory":false}`, 400, "memory"},
		{"snapshot name type", "POST", "/sandboxes/" + id + "/snapshots", `{"name":5}`, 400, "name"},
		{"snapshot bad tag", "POST", "/sandboxes/" + id + "/snapshots", `{"name":"s:Bad Tag"}`, 400, "tag"},
		{"snapshot uuid tag", "POST", "/sandboxes/" + id + "/snapshots", `{"name":"s:8d7a2c4e-0000-4000-8000-000000000000"}`, 400, "UUID"},
		{"snapshot other namespace", "POST", "/sandboxes/" + id + "/snapshots", `{"name":"tenant-b/s"}`, 400, "namespace"},
		{"snapshot bad name", "POST", "/sandboxes/" + id + "/snapshots", `{"name":"-x"}`, 400, "name"},
		{"unknown route", "GET", "/v2/nope", "", 404, "no route"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(t, tc.method, tc.path, e.keyA, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (%s)", r.status, tc.status, r.raw)
			}
			if msg := errorOf(t, r); !strings.Contains(msg, tc.inMsg) {
				t.Errorf("message %q, want it to contain %q", msg, tc.inMsg)
			}
		})
	}
}

// With validation off (the benchmark's comparison) handlers still refuse
// what they cannot use.
func TestBadRequestsWithoutValidation(t *testing.T) {
	e := newTestEnvWith(t, false)
	id := e.create(t, `{"templateID":"img"}`)
	cases := []struct{ name, method, path, body string }{
		{"negative timeout", "POST", "/v2/sandboxes", `{"templateID":"img","timeout":-5}`},
		{"metadata not strings", "POST", "/v2/sandboxes", `{"templateID":"img","metadata":{"a":1}}`},
		{"missing templateID", "POST", "/sandboxes", `{}`},
		{"empty body", "POST", "/v2/sandboxes", ``},
		{"limit", "GET", "/v2/sandboxes?limit=1000", ""},
		{"state", "GET", "/v2/sandboxes?state=dead", ""},
		{"order", "GET", "/v2/sandboxes?order=sideways", ""},
		{"startedAfter", "GET", "/v2/sandboxes?startedAfter=yesterday", ""},
		{"snapshot limit", "GET", "/snapshots?limit=x", ""},
		{"timeout type", "POST", "/sandboxes/" + id + "/timeout", `{"timeout":"1"}`},
		{"connect v1 without timeout", "POST", "/sandboxes/" + id + "/connect", `{}`},
	}
	for _, tc := range cases {
		if r := e.call(t, tc.method, tc.path, e.keyA, tc.body); r.status != 400 {
			t.Errorf("%s: %d, want 400 (%s)", tc.name, r.status, r.raw)
		} else {
			errorOf(t, r)
		}
	}
}

func TestMountRefusesRoutesMissingFromSpec(t *testing.T) {
	for _, validate := range []bool{true, false} {
		a, err := New(Options{Sandboxes: &core.Sandboxes{}, Snapshots: &core.Snapshots{}, Metrics: &core.Metrics{}, Keys: &core.Keys{},
			Spec: &openapi3.T{Paths: openapi3.NewPaths()}, Validate: validate})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Mount(edge.NewRouter(edge.Options{})); err == nil || !strings.Contains(err.Error(), "not in the spec") {
			t.Errorf("Mount with an empty spec (validate %v): %v, want a missing-route error", validate, err)
		}
	}
}

// within reports whether an RFC 3339 timestamp is d from now, give or take.
func within(t *testing.T, ts any, d time.Duration) bool {
	t.Helper()
	s, _ := ts.(string)
	got, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Errorf("timestamp %q: %v", s, err)
		return false
	}
	diff := time.Until(got) - d
	return diff > -10*time.Second && diff < 10*time.Second
}
