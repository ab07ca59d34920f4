package e2b

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/specs"
)

// fuzzRoute is one route the fuzzers drive: "{}" in path is the fuzzed
// parameter; spec names the operation whose schemas seed its bodies.
type fuzzRoute struct {
	method, path, spec string
}

var fuzzRoutes = []fuzzRoute{
	{"POST", "/sandboxes", "/sandboxes"},
	{"POST", "/v2/sandboxes", "/v2/sandboxes"},
	{"GET", "/v2/sandboxes?{}", ""},
	{"GET", "/v2/sandboxes?metadata={}&limit=3", ""},
	{"GET", "/sandboxes/{}", ""},
	{"DELETE", "/sandboxes/{}", ""},
	{"POST", "/sandboxes/{}/connect", "/sandboxes/{sandboxID}/connect"},
	{"POST", "/v2/sandboxes/{}/connect", "/v2/sandboxes/{sandboxID}/connect"},
	{"POST", "/sandboxes/{}/timeout", "/sandboxes/{sandboxID}/timeout"},
	{"POST", "/sandboxes/{}/pause", "/sandboxes/{sandboxID}/pause"},
	{"POST", "/sandboxes/{}/resume", "/sandboxes/{sandboxID}/resume"},
	{"POST", "/sandboxes/{}/snapshots", "/sandboxes/{sandboxID}/snapshots"},
	{"GET", "/snapshots?{}", ""},
	{"DELETE", "/templates/{}", ""},
	{"GET", "/{}", ""},
}

// fuzzServer is the adapter over a ready snapshot "img" and one running
// sandbox of tenant A.
type fuzzServer struct {
	h       http.Handler
	hdr     http.Header
	sandbox string
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	ctx := tb.Context()
	env := adaptertest.New(tb)
	p, err := env.Keys.Authenticate(ctx, env.KeyA, "")
	if err != nil {
		tb.Fatal(err)
	}
	pctx := core.WithPrincipal(ctx, p)
	if _, err := env.Snapshots.Create(pctx, core.CreateSnapshotRequest{Name: "img", DockerImage: "busybox", FSCapacityBytes: 1 << 30}); err != nil {
		tb.Fatal(err)
	}
	spec, err := specs.E2B(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := New(Options{Sandboxes: env.Sandboxes, Snapshots: env.Snapshots, Keys: env.Keys, Spec: spec, Logger: discardLogger(), Validate: true})
	if err != nil {
		tb.Fatal(err)
	}
	s := &fuzzServer{h: adaptertest.Handler(adaptertest.Serve(tb, a.Register, a.NotFound)),
		hdr: http.Header{"X-Api-Key": {env.KeyA}, "Content-Type": {"application/json"}}}
	st, body := adaptertest.Do(s.h, "POST", adaptertest.Target("/sandboxes", "", false), s.hdr, []byte(`{"templateID":"img","timeout":300}`))
	var sb struct {
		SandboxID string `json:"sandboxID"`
	}
	if st != http.StatusCreated || json.Unmarshal(body, &sb) != nil {
		tb.Fatalf("create sandbox: %d %s", st, body)
	}
	s.sandbox = sb.SandboxID
	return s
}

// checkE2BReply asserts the property every bad input must keep: no 5xx,
// and an error in E2B's shape {"code":<status>,"message":…}.
func checkE2BReply(t *testing.T, what string, status int, body []byte) {
	t.Helper()
	if status >= 500 {
		t.Fatalf("%s: status %d: %s", what, status, body)
	}
	if status < 400 {
		return
	}
	var e struct {
		Code    *int    `json:"code"`
		Message *string `json:"message"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Code == nil || *e.Code != status || e.Message == nil {
		t.Fatalf("%s: status %d with a body not in E2B's error shape: %q", what, status, body)
	}
}

// FuzzRequests drives every E2B platform route through the real router,
// validation on, with fuzzed path parameters, queries and bodies seeded
// from the spec and hostile inputs.
func FuzzRequests(f *testing.F) {
	spec, err := specs.E2B(f.Context())
	if err != nil {
		f.Fatal(err)
	}
	s := newFuzzServer(f)
	for _, seed := range adaptertest.Seeds(spec) {
		for i, rt := range fuzzRoutes {
			if rt.method == seed.Method && rt.spec == seed.Path {
				f.Add(byte(i), s.sandbox, false, seed.Body)
			}
		}
	}
	for _, body := range []string{
		`{"templateID":"img","timeout":30,"metadata":{"k":"v"},"envVars":{"A":"1"}}`,
		`{"templateID":"img","autoPause":true,"autoResume":{"enabled":false},"secure":true}`,
		`{"templateID":"img","network":{"allowOut":["0.0.0.0/0"]},"volumeMounts":[{"name":"v","path":"/"}]}`,
		`{"templateID":"img","timeout":86401}`, `{"templateID":"img","timeout":-1}`, `{"templateID":"img","timeout":2147483648}`,
		`{"templateID":"IMG"}`, `{"templateID":"img:tag"}`, `{"templateID":"team/img:v1"}`, `{"templateID":"img@sha256:00"}`,
	} {
		f.Add(byte(0), "", false, []byte(body))
		f.Add(byte(1), "", false, []byte(body))
	}
	for i, rt := range fuzzRoutes {
		for _, name := range adaptertest.HostileNames() {
			f.Add(byte(i), name, strings.Contains(name, "%"), []byte(`{"templateID":`+quote(name)+`,"name":`+quote(name)+`}`))
		}
		if rt.spec != "" {
			for _, body := range adaptertest.HostileBodies() {
				f.Add(byte(i), s.sandbox, false, body)
			}
		}
	}
	tried, statuses := adaptertest.Tried(f), adaptertest.Statuses(f)
	f.Fuzz(func(t *testing.T, route byte, param string, raw bool, body []byte) {
		tried.Add(1)
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		u := adaptertest.Target(rt.path, param, raw)
		status, out := adaptertest.Do(s.h, rt.method, u, s.hdr, body)
		statuses.Add(status)
		checkE2BReply(t, rt.method+" "+u.String(), status, out)
	})
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
