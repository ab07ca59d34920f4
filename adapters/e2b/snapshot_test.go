package e2b

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var unnamedRE = regexp.MustCompile(`^[0-9a-f-]{36}:default$`)

func snapshotIDs(r reply) []string {
	var out []string
	for _, it := range r.list {
		out = append(out, it.(map[string]any)["snapshotID"].(string))
	}
	return out
}

func names(r reply) []any {
	n, _ := r.body["names"].([]any)
	return n
}

func TestSnapshots(t *testing.T) {
	e := newTestEnv(t)
	src := e.create(t, `{"templateID":"img"}`)
	path := "/sandboxes/" + src + "/snapshots"

	unnamed := e.call(t, "POST", path, e.keyA, `{}`)
	if unnamed.status != 201 || !unnamedRE.MatchString(unnamed.body["snapshotID"].(string)) || names(unnamed) == nil || len(names(unnamed)) != 0 {
		t.Fatalf("unnamed: %d %s", unnamed.status, unnamed.raw)
	}
	first := e.call(t, "POST", path, e.keyA, `{"name":"snap"}`)
	if first.status != 201 || first.body["snapshotID"] != "tenant-a/snap:default" || len(names(first)) != 1 || names(first)[0] != "tenant-a/snap" {
		t.Fatalf("named: %d %s", first.status, first.raw)
	}
	// A repeated name is a new snapshot that takes the tag.
	second := e.call(t, "POST", path, e.keyA, `{"name":"tenant-a/snap"}`)
	if second.status != 201 || second.body["snapshotID"] != "tenant-a/snap:default" {
		t.Fatalf("repeated name: %d %s", second.status, second.raw)
	}
	tagged := e.call(t, "POST", path, e.keyA, `{"name":"Tenant-A/other:V1.2"}`)
	if tagged.status != 201 || tagged.body["snapshotID"] != "tenant-a/other:v1.2" {
		t.Fatalf("tagged: %d %s", tagged.status, tagged.raw)
	}
	// Capture works on a paused sandbox too.
	e.call(t, "POST", "/sandboxes/"+src+"/pause", e.keyA, "{}")
	if r := e.call(t, "POST", path, e.keyA, `{"name":"paused"}`); r.status != 201 {
		t.Errorf("capture paused: %d %s", r.status, r.raw)
	}

	// Listing by source sandbox: newest first; the old "snap" build lost
	// its tag and is listed by id.
	list := e.call(t, "GET", "/snapshots?sandboxID="+src, e.keyA, "")
	got := snapshotIDs(list)
	if list.status != 200 || len(got) != 5 || got[0] != "tenant-a/paused:default" || got[2] != "tenant-a/snap:default" || !unnamedRE.MatchString(got[3]) || !unnamedRE.MatchString(got[4]) {
		t.Fatalf("list by sandbox: %d %v", list.status, got)
	}
	oldSnap := got[3]
	byName := e.call(t, "GET", "/snapshots?name=snap", e.keyA, "")
	if ids := snapshotIDs(byName); len(ids) != 2 || ids[0] != "tenant-a/snap:default" || ids[1] != oldSnap {
		t.Errorf("list by bare name: %v", ids)
	}
	for _, q := range []string{"name=snap:default", "name=tenant-a/snap:default", "name=" + url.QueryEscape(strings.TrimSuffix(oldSnap, ":default"))} {
		if ids := snapshotIDs(e.call(t, "GET", "/snapshots?"+q, e.keyA, "")); len(ids) != 1 {
			t.Errorf("list %s: %v, want one", q, ids)
		}
	}
	if ids := snapshotIDs(e.call(t, "GET", "/snapshots?name=other:v2", e.keyA, "")); len(ids) != 0 {
		t.Errorf("list by a tag nobody holds: %v", ids)
	}
	// Pages of two through X-Next-Token: 5 captures + img.
	var all []string
	token := ""
	for range 10 {
		q := "/snapshots?limit=2"
		if token != "" {
			q += "&nextToken=" + token
		}
		r := e.call(t, "GET", q, e.keyA, "")
		all = append(all, snapshotIDs(r)...)
		if token = r.header.Get("X-Next-Token"); token == "" {
			break
		}
	}
	if len(all) != 6 || all[5] != "tenant-a/img:latest" {
		t.Errorf("paged snapshots: %v", all)
	}
	if r := e.call(t, "GET", "/snapshots", e.keyB, ""); r.status != 200 || len(r.list) != 0 || r.list == nil {
		t.Errorf("tenant B sees %d %s", r.status, r.raw)
	}
	if r := e.call(t, "GET", "/snapshots?sandboxID="+src, e.keyB, ""); len(r.list) != 0 {
		t.Errorf("tenant B sees by sandbox: %s", r.raw)
	}

	// Every snapshot id the API returned starts a sandbox.
	for _, ref := range []string{unnamed.body["snapshotID"].(string), "tenant-a/snap:default", "tenant-a/other:v1.2", oldSnap} {
		if r := e.call(t, "POST", "/v2/sandboxes", e.keyA, `{"templateID":"`+ref+`"}`); r.status != 201 {
			t.Errorf("create from %s: %d %s", ref, r.status, r.raw)
		}
		if r := e.call(t, "POST", "/v2/sandboxes", e.keyB, `{"templateID":"`+ref+`"}`); r.status != 404 {
			t.Errorf("tenant B create from %s: %d", ref, r.status)
		}
	}
}

func TestDeleteTemplate(t *testing.T) {
	e := newTestEnv(t)
	src := e.create(t, `{"templateID":"img"}`)
	capture := func(body string) string {
		r := e.call(t, "POST", "/sandboxes/"+src+"/snapshots", e.keyA, body)
		if r.status != 201 {
			t.Fatalf("capture %s: %d %s", body, r.status, r.raw)
		}
		return r.body["snapshotID"].(string)
	}
	unnamed := capture(`{}`)
	id := strings.TrimSuffix(unnamed, ":default")
	capture(`{"name":"a"}`)
	capture(`{"name":"b:v1"}`)
	capture(`{"name":"c"}`)
	capture(`{"name":"d"}`)
	cases := []struct {
		name, ref, key string
		status         int
	}{
		{"other tenant by id", url.PathEscape(unnamed), e.keyB, 404},
		{"other tenant by name", "a", e.keyB, 404},
		{"other tenant namespaced", "tenant-a%2Fa%3Adefault", e.keyB, 404},
		{"id:default encoded", url.PathEscape(unnamed), e.keyA, 204},
		{"id again", id, e.keyA, 404},
		{"namespace/name:tag encoded", "tenant-a%2Fb%3Av1", e.keyA, 204},
		{"name:tag gone", "b%3Av1", e.keyA, 404},
		{"bare name", "a", e.keyA, 204},
		{"name:default", "c%3Adefault", e.keyA, 204},
		{"namespace/name", "tenant-a%2Fd", e.keyA, 204},
		{"image snapshot by name:tag", "img%3Alatest", e.keyA, 204},
		{"unknown", "nope", e.keyA, 404},
		{"wrong tag", "tenant-a%2Fd%3Av9", e.keyA, 404},
	}
	for _, tc := range cases {
		r := e.call(t, "DELETE", "/templates/"+tc.ref, tc.key, "")
		if r.status != tc.status {
			t.Errorf("%s (%s): %d, want %d (%s)", tc.name, tc.ref, r.status, tc.status, r.raw)
		}
		if tc.status == 404 {
			errorOf(t, r)
		}
	}
	if r := e.call(t, "GET", "/snapshots", e.keyA, ""); len(r.list) != 0 {
		t.Errorf("left over: %s", r.raw)
	}
}
