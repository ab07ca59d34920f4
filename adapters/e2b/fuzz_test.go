package e2b

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/specs"
)

var fuzzRoutes = []adaptertest.FuzzRoute{
	{Method: "POST", Path: "/sandboxes", Spec: "/sandboxes"},
	{Method: "POST", Path: "/v2/sandboxes", Spec: "/v2/sandboxes"},
	{Method: "GET", Path: "/v2/sandboxes?{}", Spec: ""},
	{Method: "GET", Path: "/v2/sandboxes?metadata={}&limit=3", Spec: ""},
	{Method: "GET", Path: "/sandboxes/{}", Spec: ""},
	{Method: "DELETE", Path: "/sandboxes/{}", Spec: ""},
	{Method: "POST", Path: "/sandboxes/{}/connect", Spec: "/sandboxes/{sandboxID}/connect"},
	{Method: "POST", Path: "/v2/sandboxes/{}/connect", Spec: "/v2/sandboxes/{sandboxID}/connect"},
	{Method: "POST", Path: "/sandboxes/{}/timeout", Spec: "/sandboxes/{sandboxID}/timeout"},
	{Method: "POST", Path: "/sandboxes/{}/pause", Spec: "/sandboxes/{sandboxID}/pause"},
	{Method: "POST", Path: "/sandboxes/{}/resume", Spec: "/sandboxes/{sandboxID}/resume"},
	{Method: "POST", Path: "/sandboxes/{}/snapshots", Spec: "/sandboxes/{sandboxID}/snapshots"},
	{Method: "GET", Path: "/snapshots?{}", Spec: ""},
	{Method: "DELETE", Path: "/templates/{}", Spec: ""},
	{Method: "GET", Path: "/{}", Spec: ""},
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
	a, err := New(Options{Sandboxes: env.Sandboxes, Snapshots: env.Snapshots, Metrics: env.Metrics, Keys: env.Keys, Spec: spec, Logger: discardLogger(), Validate: true})
	if err != nil {
		tb.Fatal(err)
	}
	s := &fuzzServer{h: adaptertest.Handler(adaptertest.Serve(tb, a.Mount, adaptertest.ValidateResponses(spec))),
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
	adaptertest.AddRouteSeeds(f, spec, fuzzRoutes, s.sandbox, func(name string) []byte {
		return []byte(`{"templateID":` + adaptertest.Quote(name) + `,"name":` + adaptertest.Quote(name) + `}`)
	})
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
	tried, statuses := adaptertest.Tried(f), adaptertest.Statuses(f)
	f.Fuzz(func(t *testing.T, route byte, param string, raw bool, body []byte) {
		tried.Add(1)
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		u := adaptertest.Target(rt.Path, param, raw)
		status, out := adaptertest.DoT(t, s.h, rt.Method, u, s.hdr, body)
		statuses.Add(status)
		checkE2BReply(t, rt.Method+" "+u.String(), status, out)
	})
}
