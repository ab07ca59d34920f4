package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/adapters/e2b"
	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/adapters/langsmith"
	"github.com/snapgate/snapgate/specs"
)

// bodyLimitServer serves both vendor adapters with a body limit, as the
// router of serve.go does.
func bodyLimitServer(t *testing.T, limit int64) (*httptest.Server, string) {
	t.Helper()
	r, key := vendorRouter(t, edge.Options{Logger: adaptertest.Logger(), BodyLimit: limit})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv, key
}

// vendorRouter is both vendor adapters mounted on a router made with opt,
// on a fake engine, and an API key of theirs.
func vendorRouter(t *testing.T, opt edge.Options) (*edge.Router, string) {
	t.Helper()
	env := adaptertest.New(t)
	lsSpec, err := specs.LangSmith(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e2bSpec, err := specs.E2B(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ls, err := langsmith.New(langsmith.Options{Snapshots: env.Snapshots, Sandboxes: env.Sandboxes, Registries: env.Registries,
		Keys: env.Keys, Spec: lsSpec, Logger: adaptertest.Logger(), Validate: true})
	if err != nil {
		t.Fatal(err)
	}
	eb, err := e2b.New(e2b.Options{Sandboxes: env.Sandboxes, Snapshots: env.Snapshots, Metrics: env.Metrics, Keys: env.Keys, Spec: e2bSpec,
		Logger: adaptertest.Logger(), Validate: true})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.TestMode)
	r := edge.NewRouter(opt)
	if err := errors.Join(ls.Mount(r), eb.Mount(r)); err != nil {
		t.Fatal(err)
	}
	return r, env.KeyA
}

// hideLength keeps the client from knowing the body's length, so it is
// sent chunked, without Content-Length.
type hideLength struct{ io.Reader }

func TestOversizedBodiesRefused(t *testing.T) {
	const limit = 1024
	srv, key := bodyLimitServer(t, limit)
	tried := adaptertest.Tried(t)
	big := `{"name":"big","docker_image":"busybox","fs_capacity_bytes":1,"x":"` + strings.Repeat("a", 4*limit) + `"}`
	small := `{"name":"small","docker_image":"busybox","fs_capacity_bytes":1}`
	cases := []struct {
		name, path, body string
		chunked          bool
		want             int
	}{
		{"LangSmith with Content-Length", "/v2/sandboxes/snapshots", big, false, http.StatusRequestEntityTooLarge},
		{"LangSmith chunked", "/api/v2/sandboxes/snapshots", big, true, http.StatusRequestEntityTooLarge},
		{"LangSmith chunked far over", "/api/v2/sandboxes/snapshots", big + strings.Repeat(" ", 1<<20), true, http.StatusRequestEntityTooLarge},
		{"E2B with Content-Length", "/sandboxes", `{"templateID":"` + strings.Repeat("a", 2*limit) + `"}`, false, http.StatusRequestEntityTooLarge},
		{"E2B chunked", "/v2/sandboxes", `{"templateID":"` + strings.Repeat("a", 2*limit) + `"}`, true, http.StatusRequestEntityTooLarge},
		{"chunked at the limit is read whole", "/v2/sandboxes/snapshots", small + strings.Repeat(" ", limit-len(small)), true, http.StatusCreated},
		{"small with Content-Length", "/api/v1/v2/sandboxes/snapshots", strings.Replace(small, "small", "small2", 1), false, http.StatusCreated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tried.Add(1)
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = hideLength{body}
			}
			req, err := http.NewRequestWithContext(t.Context(), "POST", srv.URL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Api-Key", key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if tc.chunked != (req.ContentLength <= 0) {
				t.Fatalf("request sent with length %d, chunked=%v", req.ContentLength, tc.chunked)
			}
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d %s, want %d", resp.StatusCode, raw, tc.want)
			}
			if tc.want != http.StatusRequestEntityTooLarge {
				return
			}
			if !vendorTooLarge(raw, strings.Contains(tc.path, "/snapshots")) {
				t.Errorf("body %s: want the vendor's own 413 body", raw)
			}
		})
	}
}

// vendorTooLarge reports whether raw is a 413 body in LangSmith's shape
// (detail with token and message) or E2B's (code and message), only.
func vendorTooLarge(raw []byte, langsmith bool) bool {
	var e map[string]any
	if json.Unmarshal(raw, &e) != nil {
		return false
	}
	if langsmith {
		d, _ := e["detail"].(map[string]any)
		return len(e) == 1 && d["error"] == "PayloadTooLarge" && d["message"] != ""
	}
	return len(e) == 2 && e["code"] == float64(413) && e["message"] != ""
}
