package langsmith

import (
	"strings"
	"testing"
	"time"
)

// waitReady polls a snapshot until it leaves building.
func waitReady(t *testing.T, get func() reply) reply {
	t.Helper()
	for range 100 {
		r := get()
		if r.body["status"] != "building" {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("snapshot still building")
	return reply{}
}

func TestBoxRoutes(t *testing.T) {
	srv, keyA, keyB := newTestServer(t)
	snap := call(t, srv, "POST", "/api/v2/sandboxes/snapshots", keyA, `{"name":"src","docker_image":"busybox","fs_capacity_bytes":1073741824}`)
	id := snap.body["id"].(string)
	waitReady(t, func() reply { return call(t, srv, "GET", "/api/v2/sandboxes/snapshots/"+id, keyA, "") })

	box := call(t, srv, "POST", "/api/v2/sandboxes/boxes", keyA, `{"wait_for_ready":true,"timeout":30,"snapshot_id":"`+id+`","name":"b1","labels":{"k":"v"}}`)
	if box.status != 201 || box.body["status"] != "ready" || box.body["name"] != "b1" {
		t.Fatalf("create box: %d %v", box.status, box.body)
	}
	if dp, _ := box.body["dataplane_url"].(string); !strings.HasPrefix(dp, srv.URL+"/dataplane/i") || strings.HasSuffix(dp, "/") {
		t.Errorf("dataplane_url = %q", dp)
	}
	cases := []struct {
		name, method, path, key, body string
		status                        int
		field, want                   string
	}{
		{"get", "GET", "/boxes/b1", keyA, "", 200, "status", "ready"},
		{"other tenant get", "GET", "/boxes/b1", keyB, "", 404, "", ""},
		{"other tenant delete", "DELETE", "/boxes/b1", keyB, "", 404, "", ""},
		{"status", "GET", "/boxes/b1/status", keyA, "", 200, "status", "ready"},
		{"stop", "POST", "/boxes/b1/stop", keyA, "{}", 204, "", ""},
		{"stopped", "GET", "/boxes/b1/status", keyA, "", 200, "status", "stopped"},
		{"stop again", "POST", "/boxes/b1/stop", keyA, "{}", 409, "", ""},
		{"start", "POST", "/boxes/b1/start", keyA, "{}", 202, "status", "ready"},
		{"rename", "PATCH", "/boxes/b1", keyA, `{"name":"b2"}`, 200, "name", "b2"},
		{"old name gone", "GET", "/boxes/b1", keyA, "", 404, "", ""},
		{"capture", "POST", "/boxes/b2/snapshot", keyA, `{"name":"cap"}`, 201, "status", "ready"},
		{"capture onto taken name", "POST", "/boxes/b2/snapshot", keyA, `{"name":"src"}`, 409, "", ""},
		{"capture with memory", "POST", "/boxes/b2/snapshot", keyA, `{"name":"mem","include_memory":true}`, 409, "", ""},
		{"capture without name", "POST", "/boxes/b2/snapshot", keyA, `{}`, 422, "", ""},
		{"box from missing snapshot", "POST", "/boxes", keyA, `{"snapshot_name":"nope"}`, 404, "", ""},
		{"two snapshot refs", "POST", "/boxes", keyA, `{"snapshot_name":"src","snapshot_id":"` + id + `"}`, 422, "", ""},
		{"ttl not a minute multiple", "POST", "/boxes", keyA, `{"idle_ttl_seconds":61}`, 422, "", ""},
		{"delete", "DELETE", "/boxes/b2", keyA, "", 204, "", ""},
		{"deleted", "GET", "/boxes/b2", keyA, "", 404, "", ""},
	}
	for _, tc := range cases {
		r := call(t, srv, tc.method, "/api/v2/sandboxes"+tc.path, tc.key, tc.body)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d (%v)", tc.name, r.status, tc.status, r.body)
			continue
		}
		if tc.field != "" && r.body[tc.field] != tc.want {
			t.Errorf("%s: %s = %v, want %s", tc.name, tc.field, r.body[tc.field], tc.want)
		}
	}
	list := call(t, srv, "GET", "/v2/sandboxes/boxes", keyA, "")
	if items, _ := list.body["sandboxes"].([]any); list.status != 200 || len(items) != 0 {
		t.Errorf("list after delete: %d %v", list.status, list.body)
	}
}
