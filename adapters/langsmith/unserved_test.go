package langsmith

import (
	"strings"
	"testing"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/specs"
)

// Every control-plane route the SDK calls that snapgate does not serve
// answers 501 in LangSmith's shape (NotImplemented, naming the operation)
// under every prefix for tenant A's box; never the unknown-route 404.
// Another tenant's box is 404 as on every route, and no key is 403 (what
// LangSmith answers a missing key).
func TestUnservedRoutesAnswer501(t *testing.T) {
	srv, keyA, keyB := newTestServer(t)
	snap := call(t, srv, "POST", "/api/v2/sandboxes/snapshots", keyA, `{"name":"src","docker_image":"busybox","fs_capacity_bytes":1073741824}`)
	id := snap.body["id"].(string)
	waitReady(t, func() reply { return call(t, srv, "GET", "/api/v2/sandboxes/snapshots/"+id, keyA, "") })
	if box := call(t, srv, "POST", "/api/v2/sandboxes/boxes", keyA, `{"wait_for_ready":true,"snapshot_id":"`+id+`","name":"b1"}`); box.status != 201 {
		t.Fatalf("create box: %d %v", box.status, box.body)
	}
	for _, pre := range Prefixes {
		for _, rt := range unserved {
			t.Run(rt.method+" "+pre+rt.path, func(t *testing.T) {
				path := pre + strings.NewReplacer(":box_name", "b1", ":snapshot_name", "src").Replace(rt.path)
				onBox := strings.Contains(rt.path, ":box_name")
				r := call(t, srv, rt.method, path, keyA, "")
				tok, msg := detail(r)
				want := rt.method + " " + pre + strings.NewReplacer(":box_name", "{box_name}", ":snapshot_name", "{snapshot_name}").Replace(rt.path)
				if r.status != 501 || tok != "NotImplemented" || msg != want+" is not served by this server yet" {
					t.Errorf("A: %d %v, want 501 NotImplemented naming %s", r.status, r.body, want)
				}
				r = call(t, srv, rt.method, path, keyB, "")
				wantB, wantTok := 501, "NotImplemented"
				if onBox {
					wantB, wantTok = 404, "NotFound"
				}
				if tok, _ := detail(r); r.status != wantB || tok != wantTok {
					t.Errorf("B: %d %v, want %d %s", r.status, r.body, wantB, wantTok)
				}
				if r = call(t, srv, rt.method, path, "", ""); r.status != 403 {
					t.Errorf("no key: %d %v, want 403", r.status, r.body)
				}
				if onBox {
					r = call(t, srv, rt.method, strings.Replace(path, "/b1/", "/nope/", 1), keyA, "")
					if tok, _ := detail(r); r.status != 404 || tok != "NotFound" {
						t.Errorf("unknown box: %d %v, want 404", r.status, r.body)
					}
				}
			})
		}
	}
}

// Without a ServiceURLs service the service-url routes answer 501 as
// other unserved routes do, and the proxy is not mounted.
func TestServiceURLRoutesUnservedWithoutService(t *testing.T) {
	env := adaptertest.New(t)
	spec, err := specs.LangSmith(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Snapshots: env.Snapshots, Sandboxes: env.Sandboxes, Registries: env.Registries,
		Keys: env.Keys, Spec: spec, Logger: discardLogger(), Validate: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := adaptertest.Serve(t, a.Mount)
	if box := call(t, srv, "POST", "/api/v2/sandboxes/boxes", env.KeyA, `{"name":"b1"}`); box.status != 201 {
		t.Fatalf("create box: %d %v", box.status, box.body)
	}
	for _, rt := range serviceURLRoutes {
		path := "/api/v2/sandboxes" + strings.Replace(rt.path, ":box_name", "b1", 1)
		if r := call(t, srv, rt.method, path, env.KeyA, ""); r.status != 501 {
			t.Errorf("%s %s: %d %v, want 501", rt.method, path, r.status, r.body)
		}
	}
	if r := call(t, srv, "GET", "/service/x/8000/", "", ""); r.status != 404 {
		t.Errorf("proxy without the service: %d, want 404", r.status)
	}
}
