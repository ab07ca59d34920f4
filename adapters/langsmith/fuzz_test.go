package langsmith

import (
	"encoding/json"
	"math"
	"net/http"
	"testing"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/specs"
)

// The dataplane's execute is driven on a box no name can designate (names
// are lower case), so fuzzed commands are decoded and refused or looked up,
// never run on the test host. Glob, grep and download read the real box.
var fuzzRoutes = []adaptertest.FuzzRoute{
	{Method: "POST", Path: "/v2/sandboxes/snapshots", Spec: "/v2/sandboxes/snapshots"},
	{Method: "GET", Path: "/v2/sandboxes/snapshots?name_contains={}&limit=5", Spec: ""},
	{Method: "GET", Path: "/api/v2/sandboxes/snapshots?{}", Spec: ""},
	{Method: "GET", Path: "/v2/sandboxes/snapshots/{}", Spec: ""},
	{Method: "DELETE", Path: "/api/v2/sandboxes/snapshots/{}", Spec: ""},
	{Method: "POST", Path: "/v2/sandboxes/registries", Spec: "/v2/sandboxes/registries"},
	{Method: "GET", Path: "/v2/sandboxes/registries/{}", Spec: ""},
	{Method: "PATCH", Path: "/v2/sandboxes/registries/{}", Spec: "/v2/sandboxes/registries/{registry_name}"},
	{Method: "DELETE", Path: "/v2/sandboxes/registries/{}", Spec: ""},
	{Method: "POST", Path: "/v2/sandboxes/boxes", Spec: "/v2/sandboxes/boxes"},
	{Method: "GET", Path: "/v2/sandboxes/boxes?{}", Spec: ""},
	{Method: "GET", Path: "/v2/sandboxes/boxes/{}", Spec: ""},
	{Method: "PATCH", Path: "/v2/sandboxes/boxes/{}", Spec: "/v2/sandboxes/boxes/{box_name}"},
	{Method: "DELETE", Path: "/v2/sandboxes/boxes/{}", Spec: ""},
	{Method: "GET", Path: "/v2/sandboxes/boxes/{}/status", Spec: ""},
	{Method: "POST", Path: "/v2/sandboxes/boxes/{}/start", Spec: ""},
	{Method: "POST", Path: "/v2/sandboxes/boxes/{}/stop", Spec: ""},
	{Method: "POST", Path: "/v2/sandboxes/boxes/{}/snapshot", Spec: "/v2/sandboxes/boxes/{box_name}/snapshot"},
	{Method: "POST", Path: "/dataplane/NO-SUCH-BOX/execute?{}", Spec: "/dataplane/{box}/execute"},
	{Method: "POST", Path: "/dataplane/dp-box/glob", Spec: "/dataplane/{box}/glob"},
	{Method: "POST", Path: "/dataplane/dp-box/grep", Spec: "/dataplane/{box}/grep"},
	{Method: "GET", Path: "/dataplane/dp-box/download?path={}", Spec: ""},
	{Method: "GET", Path: "/api/v2/sandboxes/{}", Spec: ""},
	{Method: "POST", Path: "/dataplane/{}/glob", Spec: "/dataplane/{box}/glob"},
}

// fuzzServer is the adapter with a dataplane and one ready box, dp-box.
type fuzzServer struct {
	h   http.Handler
	hdr http.Header
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	env := adaptertest.New(tb)
	spec, err := specs.LangSmith(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	a, err := New(Options{Snapshots: env.Snapshots, Sandboxes: env.Sandboxes, Registries: env.Registries,
		Keys: env.Keys, Spec: spec, Logger: discardLogger(), Validate: true, Dataplane: env.Dataplane})
	if err != nil {
		tb.Fatal(err)
	}
	s := &fuzzServer{h: adaptertest.Handler(adaptertest.Serve(tb, a.Mount, adaptertest.ValidateResponses(spec))),
		hdr: http.Header{"X-Api-Key": {env.KeyA}, "Content-Type": {"application/json"}}}
	st, body := adaptertest.Do(s.h, "POST", adaptertest.Target("/v2/sandboxes/boxes", "", false), s.hdr,
		[]byte(`{"wait_for_ready":true,"timeout":30,"name":"dp-box"}`))
	if st != http.StatusCreated {
		tb.Fatalf("create box: %d %s", st, body)
	}
	return s
}

// check asserts the property every bad input must keep: no 5xx, and an
// error in LangSmith's shape {"detail":{"error":<token>,"message":…}}.
func checkLangSmithReply(t *testing.T, what string, status int, body []byte) {
	t.Helper()
	if status >= 500 {
		t.Fatalf("%s: status %d: %s", what, status, body)
	}
	if status < 400 {
		return
	}
	var e struct {
		Detail *struct {
			Error   *string `json:"error"`
			Message *string `json:"message"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Detail == nil || e.Detail.Error == nil || *e.Detail.Error == "" || e.Detail.Message == nil {
		t.Fatalf("%s: status %d with a body not in LangSmith's error shape: %q", what, status, body)
	}
}

// FuzzRequests drives every LangSmith route (control plane and dataplane)
// through the real router, validation on, with fuzzed path parameters,
// queries and bodies seeded from the spec and hostile inputs.
func FuzzRequests(f *testing.F) {
	spec, err := specs.LangSmith(f.Context())
	if err != nil {
		f.Fatal(err)
	}
	adaptertest.AddRouteSeeds(f, spec, fuzzRoutes, "dp-box", func(name string) []byte {
		return []byte(`{"name":` + adaptertest.Quote(name) + `}`)
	})
	s := newFuzzServer(f)
	tried, statuses := adaptertest.Tried(f), adaptertest.Statuses(f)
	f.Fuzz(func(t *testing.T, route byte, param string, raw bool, body []byte) {
		tried.Add(1)
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		u := adaptertest.Target(rt.Path, param, raw)
		status, out := adaptertest.DoT(t, s.h, rt.Method, u, s.hdr, body)
		statuses.Add(status)
		checkLangSmithReply(t, rt.Method+" "+u.String(), status, out)
	})
}

// FuzzWSClientFrame decodes WebSocket client frames as readFirst and the
// control loop do, and turns execute frames into core requests.
func FuzzWSClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"execute","command":"echo hi","timeout_seconds":5,"shell":"/bin/sh","env":{"A":"1"},"cwd":"/tmp"}`,
		`{"type":"execute","command":"x","run_config":{"user":"root","work_dir":"/","env_vars":{"B":"2"}},"pty":true}`,
		`{"type":"execute","command":"x","run_config":{},"env":{}}`,
		`{"type":"reconnect","command_id":"c1","stdout_offset":10,"stderr_offset":-5}`,
		`{"type":"input","data":"abc"}`, `{"type":"kill"}`, `{"type":"close_stdin"}`,
		`{"type":"execute","timeout_seconds":1e300}`, `{"type":"execute","timeout_seconds":-1}`,
		`{"type":"execute","timeout_seconds":9.3e9}`, `{"type":"execute","timeout_seconds":1e999}`,
		`{"type":"execute","stdout_offset":1e30}`, `{"type":["execute"]}`, `{"type":null}`, `[]`, `"`, ``,
	} {
		f.Add([]byte(s))
	}
	for _, b := range adaptertest.HostileBodies() {
		f.Add(b)
	}
	tried := adaptertest.Tried(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		tried.Add(1)
		var fr wsClientFrame
		if err := json.Unmarshal(raw, &fr); err != nil {
			return
		}
		d := seconds(fr.TimeoutSeconds, defaultTimeout)
		if d < 0 {
			t.Fatalf("timeout_seconds %v became a negative timeout %v", *fr.TimeoutSeconds, d)
		}
		req, err := fr.startRequest(d)
		if err != nil {
			return
		}
		if len(req.Argv) != 3 || req.Argv[1] != "-c" || req.Argv[2] != fr.Command || req.User == "" {
			t.Fatalf("frame %s became %+v", raw, req)
		}
	})
}

// TestSecondsNeverNegative pins the overflow fixed in seconds: a timeout
// too large for a time.Duration is no limit, not a negative timeout that
// refuses the command.
func TestSecondsNeverNegative(t *testing.T) {
	for _, v := range []float64{1e300, 9.3e9, math.MaxInt64, math.Inf(1)} {
		if got := seconds(&v, defaultTimeout); got != 0 {
			t.Errorf("seconds(%g) = %v, want 0 (no limit)", v, got)
		}
	}
	v := 1.5
	if got := seconds(&v, defaultTimeout); got.Seconds() != 1.5 {
		t.Errorf("seconds(1.5) = %v", got)
	}
}
