package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/adapters/e2b"
	"github.com/snapgate/snapgate/adapters/e2b/envd"
	"github.com/snapgate/snapgate/adapters/e2b/ports"
	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/adapters/langsmith"
	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/specs"
)

// everyVendor mounts every adapter serve.go mounts (LangSmith with its
// dataplane, E2B, envd) on r, over env's core with boxes as the sandbox
// service.
func everyVendor(t *testing.T, r *edge.Router, env *adaptertest.Env, boxes *core.Sandboxes) {
	t.Helper()
	ctx := t.Context()
	lsSpec, err := specs.LangSmith(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e2bSpec, err := specs.E2B(ctx)
	if err != nil {
		t.Fatal(err)
	}
	envdSpec, err := specs.Envd(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := langsmith.New(langsmith.Options{Snapshots: env.Snapshots, Sandboxes: boxes, Registries: env.Registries,
		Keys: env.Keys, Spec: lsSpec, Logger: adaptertest.Logger(), Validate: true, Dataplane: env.Dataplane,
		ServiceURLs: env.ServiceURLs})
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := core.NewMetrics(core.MetricsOptions{Sandboxes: boxes, Store: env.Store, Engine: env.Engine, Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	eb, err := e2b.New(e2b.Options{Sandboxes: boxes, Snapshots: env.Snapshots, Metrics: metrics, Keys: env.Keys, Spec: e2bSpec,
		Logger: adaptertest.Logger(), Validate: true})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := envd.New(envd.Options{Dataplane: env.Dataplane, Spec: envdSpec, Logger: adaptertest.Logger(), Validate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ev.Close)
	pp, err := ports.New(ports.Options{Dataplane: env.Dataplane, Logger: adaptertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(ls.Mount(r), eb.Mount(r), ev.Mount(r), pp.Mount(r)); err != nil {
		t.Fatal(err)
	}
}

// snapshotParams are the path parameters that may appear on a route any
// node answers: they name snapshots, templates and registries, which live
// in the shared store (and, on routes served 501, builds, template files,
// secrets and volumes, which name no sandbox either). A parameter not listed here, on a route declared
// edge.AnyNode, fails TestEveryRouteIsAnsweredByTheRightNode: if it names
// a sandbox, the route must be located by it.
var snapshotParams = []string{"snapshot_ref", "snapshot_name", "registry_name", "templateID", "buildID", "hash", "alias",
	"secretID", "volumeID"}

// Every route of every adapter is answered by the node that must answer
// it: with a sandbox on node b named in every way a route can name one
// (path parameter, envd header), each route about a sandbox is proxied to
// b, each create is placed on b (the emptier node), and each route any
// node answers is answered here. A new route without a declared location
// fails to mount; one declared to be answered anywhere while it names a
// sandbox fails here.
func TestEveryRouteIsAnsweredByTheRightNode(t *testing.T) {
	env := adaptertest.New(t)
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Node", "b")
		_, _ = io.WriteString(w, "remote")
	}))
	t.Cleanup(remote.Close)
	self := heartbeat(t, env, core.Node{Name: "test", Address: "http://self.invalid", VCPUs: 4, MemoryBytes: 8 << 30})
	heartbeat(t, env, core.Node{Name: "b", Address: remote.URL, VCPUs: 4, MemoryBytes: 8 << 30})
	boxes, err := core.NewSandboxes(core.SandboxesOptions{Store: env.Store, Engine: env.Engine, Snapshots: env.Snapshots,
		Node: "test", Logger: adaptertest.Logger(), DefaultImage: adaptertest.DefaultImage, Nodes: self, Cluster: true})
	if err != nil {
		t.Fatal(err)
	}
	onB := putBox(t, env, "box-b", "b")
	putBox(t, env, "", "test") // this node holds more than b: creates go to b
	putBox(t, env, "", "test")

	gin.SetMode(gin.TestMode)
	r := edge.NewRouter(edge.Options{Logger: adaptertest.Logger(), Cluster: boxes, Node: "test", BodyLimit: 1 << 20})
	everyVendor(t, r, env, boxes)
	if len(r.Mounted()) < 50 {
		t.Fatalf("%d routes mounted, want every vendor's", len(r.Mounted()))
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	tried := adaptertest.Tried(t)
	for _, rt := range r.Mounted() {
		t.Run(rt.Vendor+" "+rt.Method+" "+rt.Path, func(t *testing.T) {
			tried.Add(1)
			params := pathParams(rt.Path)
			if rt.AnyNode {
				for _, p := range params {
					if !slices.Contains(snapshotParams, p) {
						t.Fatalf("answered by any node, but names :%s: if it names a sandbox, locate the route with edge.Param(%q)", p, p)
					}
				}
			}
			path := rt.Path
			for _, p := range params {
				path = strings.Replace(path, ":"+p, onB, 1)
			}
			body := ""
			if rt.Places {
				body = map[string]string{"langsmith": `{"name":"placed"}`, "e2b": `{"templateID":"base"}`}[rt.Vendor]
			}
			req, err := http.NewRequestWithContext(t.Context(), rt.Method, srv.URL+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Api-Key", env.KeyA)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("E2b-Sandbox-Id", onB)
			if rt.Vendor == "e2b-ports" {
				req.Header.Set("E2b-Sandbox-Port", "8000") // a port of the sandbox: the proxy claims it
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			forwarded := resp.Header.Get("X-Node") == "b"
			switch {
			case rt.AnyNode && forwarded:
				t.Errorf("answered by b, want here")
			case !rt.AnyNode && !forwarded:
				t.Errorf("answered here (%d %s), want by b, which holds the sandbox or has room", resp.StatusCode, got)
			}
		})
	}
}

// pathParams lists the names of a gin path's parameters.
func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, ":") || strings.HasPrefix(seg, "*") {
			out = append(out, seg[1:])
		}
	}
	return out
}

// heartbeat records n as a live node of env's store and returns its
// service.
func heartbeat(t *testing.T, env *adaptertest.Env, n core.Node) *core.Nodes {
	t.Helper()
	nodes, err := core.NewNodes(core.NodesOptions{Store: env.Store, Logger: adaptertest.Logger(), Self: n})
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes.Heartbeat(t.Context()); err != nil {
		t.Fatal(err)
	}
	return nodes
}

// putBox records a running sandbox of tenant-a on node and returns its id.
func putBox(t *testing.T, env *adaptertest.Env, name, node string) string {
	t.Helper()
	id, err := core.NewSandboxID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sb := &core.Sandbox{ID: id, TenantID: "tenant-a", Name: name, State: core.SandboxRunning, VCPUs: 1,
		MemoryBytes: 1 << 30, OnTimeout: core.TimeoutKill, Node: node, CreatedAt: now, UpdatedAt: now}
	if err := env.Store.CreateSandbox(t.Context(), sb); err != nil {
		t.Fatal(err)
	}
	return id
}

// Metrics and logs label each request with the vendor whose mount
// answered it, unknown paths included; routes of no vendor are "other".
func TestVendorLabels(t *testing.T) {
	env := adaptertest.New(t)
	var label string
	gin.SetMode(gin.TestMode)
	r := edge.NewRouter(edge.Options{Logger: adaptertest.Logger(), Outer: []gin.HandlerFunc{func(c *gin.Context) {
		c.Next()
		label = edge.Label(c)
	}}})
	r.GET("/healthz", func(c *gin.Context) { c.Status(http.StatusOK) })
	everyVendor(t, r, env, env.Sandboxes)
	cases := []struct{ path, want string }{
		{"/api/v2/sandboxes/snapshots", "langsmith"},
		{"/v2/sandboxes/boxes/b1/status", "langsmith"},
		{"/api/v1/v2/sandboxes/registries", "langsmith"},
		{"/api/v2/sandboxes/nope", "langsmith"},
		{"/v2/sandboxes", "e2b"},
		{"/v2/sandboxes/i123/connect", "e2b"},
		{"/sandboxes/i123", "e2b"},
		{"/snapshots", "e2b"},
		{"/templates/t1", "e2b"},
		{"/dataplane/b1/execute", "langsmith-dataplane"},
		{"/dataplane/b1/nope", "langsmith-dataplane"},
		{"/files", "envd"},
		{"/health", "envd"},
		{"/process.Process/Start", "envd"},
		{"/filesystem.Filesystem/ListDir", "envd"},
		{"/healthz", ""},
		{"/metrics", ""},
		{"/sandboxesfoo", ""},
		{"/", ""},
	}
	for _, tc := range cases {
		label = "unset"
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tc.path, nil))
		if label != tc.want {
			t.Errorf("GET %s labelled %q, want %q", tc.path, label, tc.want)
		}
	}
}
