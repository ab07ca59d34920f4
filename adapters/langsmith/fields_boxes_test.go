package langsmith

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/core"
)

// boxWith creates box "fb" from the default snapshot with extra body
// fields (`,"k":v`).
func boxWith(t *testing.T, e *fieldEnv, extra string) reply {
	t.Helper()
	return e.ls(t, "POST", "/boxes", `{"name":"fb"`+extra+`}`)
}

// run executes a command in the box at dataplane URL dp and returns stdout.
func (e *fieldEnv) run(t *testing.T, dp, command string) string {
	t.Helper()
	e2 := *e.dataplaneEnv
	e2.dp = dp
	resp := e2.do(t, "POST", "/execute", e.keyA, strings.NewReader(`{"command":`+adaptertest.Quote(command)+`}`), "Content-Type", "application/json")
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("execute %q: %d %s", command, resp.StatusCode, body)
	}
	return body
}

// fromSnapshot checks a snapshot reference field: the box starts from it.
func fromSnapshot(field string, ref func(id string) string) fieldRow {
	return fieldRow{honoured: "the box starts from that snapshot (snapshot_id); a missing one is 404", check: func(t *testing.T, e *fieldEnv) {
		id := e.snapshot(t, "src")
		wantField(t, boxWith(t, e, `,"`+field+`":"`+ref(id)+`"`), 201, "snapshot_id", id)
		wantStatus(t, e.ls(t, "POST", "/boxes", `{"`+field+`":"nope"}`), 404)
	}}
}

// idleTTL checks that a box with idle_ttl_seconds n is stopped n seconds on.
func idleTTL(t *testing.T, e *fieldEnv, r reply, status int, n int) {
	t.Helper()
	wantField(t, r, status, "idle_ttl_seconds", n)
	sb := e.box(t, r.body["name"].(string))
	if sb.OnTimeout != core.TimeoutPause || !within(time.Until(sb.Deadline), time.Duration(n)*time.Second) {
		t.Errorf("idle TTL %ds: action %s, deadline in %v", n, sb.OnTimeout, time.Until(sb.Deadline))
	}
}

// deleteAfterStop checks that a box with delete_after_stop_seconds n is
// deleted n seconds after it is stopped.
func deleteAfterStop(t *testing.T, e *fieldEnv, r reply, status int, n int) {
	t.Helper()
	wantField(t, r, status, "delete_after_stop_seconds", n)
	name := r.body["name"].(string)
	wantStatus(t, e.ls(t, "POST", "/boxes/"+name+"/stop", "{}"), 204)
	if d := time.Until(e.box(t, name).Deadline); !within(d, time.Duration(n)*time.Second) {
		t.Errorf("stopped: deleted in %v, want %ds", d, n)
	}
}

var boxFields = map[string]opFields{
	"createBox": {
		"wait_for_ready": {honoured: "the answer is the ready box (creation is synchronous; false only allows an earlier answer)", check: func(t *testing.T, e *fieldEnv) {
			for _, v := range []string{"true", "false"} {
				r := e.ls(t, "POST", "/boxes", `{"wait_for_ready":`+v+`}`)
				if wantField(t, r, 201, "status", "ready"); r.body["dataplane_url"] == "" {
					t.Errorf("wait_for_ready %s: no dataplane_url", v)
				}
			}
		}},
		"timeout": {honoured: "bounds the wait for a snapshot still building: 422 SnapshotNotReady after it", check: func(t *testing.T, e *fieldEnv) {
			gate := make(chan struct{})
			e.env.Engine.Gate = gate
			t.Cleanup(func() { close(gate) })
			wantStatus(t, e.ls(t, "POST", "/snapshots", `{"name":"slow","docker_image":"busybox","fs_capacity_bytes":1}`), 201)
			start := time.Now()
			wantRefused(t, boxWith(t, e, `,"snapshot_name":"slow","timeout":1`), 422, "SnapshotNotReady", "building")
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("answered after %v, want about 1s", d)
			}
		}},
		"snapshot_id":   fromSnapshot("snapshot_id", func(id string) string { return id }),
		"snapshot_name": fromSnapshot("snapshot_name", func(string) string { return "src" }),
		"snapshot":      fromSnapshot("snapshot", func(string) string { return "src:latest" }),
		"name": {honoured: "the box's name, by which it is addressed", check: func(t *testing.T, e *fieldEnv) {
			wantField(t, boxWith(t, e, ""), 201, "name", "fb")
			wantStatus(t, e.ls(t, "GET", "/boxes/fb", ""), 200)
		}},
		"idle_ttl_seconds": {honoured: "returned; the box is stopped that long after it starts (core deadline, pause)", check: func(t *testing.T, e *fieldEnv) {
			idleTTL(t, e, boxWith(t, e, `,"idle_ttl_seconds":3600`), 201, 3600)
		}},
		"delete_after_stop_seconds": {honoured: "returned; a stopped box is deleted that long after (core deadline)", check: func(t *testing.T, e *fieldEnv) {
			deleteAfterStop(t, e, boxWith(t, e, `,"delete_after_stop_seconds":600`), 201, 600)
		}},
		"vcpus": {honoured: "the box's vcpus", check: func(t *testing.T, e *fieldEnv) {
			wantField(t, boxWith(t, e, `,"vcpus":2`), 201, "vcpus", 2)
		}},
		"mem_bytes": {honoured: "the box's mem_bytes", check: func(t *testing.T, e *fieldEnv) {
			wantField(t, boxWith(t, e, `,"mem_bytes":134217728`), 201, "mem_bytes", 134217728)
		}},
		"fs_capacity_bytes": {honoured: "the box's disk bound, returned", check: func(t *testing.T, e *fieldEnv) {
			wantField(t, boxWith(t, e, `,"fs_capacity_bytes":17179869184`), 201, "fs_capacity_bytes", 17179869184)
		}},
		"env_vars": {honoured: "the environment of the box's commands", check: func(t *testing.T, e *fieldEnv) {
			r := boxWith(t, e, `,"env_vars":{"FIELD_TEST":"hello"}`)
			wantStatus(t, r, 201)
			if out := e.run(t, r.body["dataplane_url"].(string), "echo $FIELD_TEST"); !strings.Contains(out, `"stdout":"hello\n"`) {
				t.Errorf("echo $FIELD_TEST: %s", out)
			}
		}},
		"labels": {honoured: "the box's labels, returned", check: func(t *testing.T, e *fieldEnv) {
			r := boxWith(t, e, `,"labels":{"team":"ml"}`)
			wantStatus(t, r, 201)
			if l, _ := r.body["labels"].(map[string]any); l["team"] != "ml" {
				t.Errorf("labels = %v", r.body["labels"])
			}
		}},
		"*": unknownField("POST", "/boxes", `{"name":"fb"}`),
	},
	"listBoxes": listBoxFields(),
	"updateBox": {
		"name": {honoured: "renames the box", check: func(t *testing.T, e *fieldEnv) {
			wantField(t, e.ls(t, "PATCH", "/boxes/dp-box", `{"name":"renamed"}`), 200, "name", "renamed")
			wantStatus(t, e.ls(t, "GET", "/boxes/renamed", ""), 200)
		}},
		"idle_ttl_seconds": {honoured: "returned; re-arms the idle stop from now (0: never)", check: func(t *testing.T, e *fieldEnv) {
			idleTTL(t, e, e.ls(t, "PATCH", "/boxes/dp-box", `{"idle_ttl_seconds":120}`), 200, 120)
			wantField(t, e.ls(t, "GET", "/boxes/dp-box", ""), 200, "idle_ttl_seconds", 120)
			wantField(t, e.ls(t, "PATCH", "/boxes/dp-box", `{"idle_ttl_seconds":0}`), 200, "idle_ttl_seconds", 0)
			if d := e.box(t, "dp-box").Deadline; !d.IsZero() {
				t.Errorf("idle_ttl_seconds 0: deadline %v, want none", d)
			}
		}},
		"delete_after_stop_seconds": {honoured: "returned; a stopped box is deleted that long after", check: func(t *testing.T, e *fieldEnv) {
			deleteAfterStop(t, e, e.ls(t, "PATCH", "/boxes/dp-box", `{"delete_after_stop_seconds":300}`), 200, 300)
			wantField(t, e.ls(t, "GET", "/boxes/dp-box", ""), 200, "delete_after_stop_seconds", 300)
		}},
		"labels": {honoured: "replaces the box's labels", check: func(t *testing.T, e *fieldEnv) {
			r := e.ls(t, "PATCH", "/boxes/dp-box", `{"labels":{"a":"b"}}`)
			if l, _ := r.body["labels"].(map[string]any); r.status != 200 || l["a"] != "b" {
				t.Errorf("labels: %d %v", r.status, r.body["labels"])
			}
		}},
		"*": unknownField("PATCH", "/boxes/dp-box", `{"name":"x"}`),
	},
	"startBox": {"*": unknownField("POST", "/boxes/dp-box/start", `{}`)},
	"stopBox":  {"*": unknownField("POST", "/boxes/dp-box/stop", `{}`)},
	"captureBoxSnapshot": {
		"name": {honoured: "the new snapshot's name; a taken one is 409", check: func(t *testing.T, e *fieldEnv) {
			wantField(t, captureWith(t, e, ""), 201, "name", "cap")
			wantStatus(t, captureWith(t, e, ""), 409)
		}},
		"include_memory": {honoured: "false: a filesystem snapshot", refused: "true: 409 InvalidState naming memory on a host without CRIU", check: func(t *testing.T, e *fieldEnv) {
			wantStatus(t, captureWith(t, e, `,"include_memory":false`), 201)
			wantRefused(t, e.ls(t, "POST", "/boxes/dp-box/snapshot", `{"name":"mem","include_memory":true}`), 409, "InvalidState", "memory")
		}},
		"checkpoint": {refused: "409 InvalidState naming the checkpoint (none are kept)", check: func(t *testing.T, e *fieldEnv) {
			wantRefused(t, captureWith(t, e, `,"checkpoint":"ck1"`), 409, "InvalidState", "checkpoint")
		}},
		"docker_image": {refused: "422 ValidationError naming docker_image", check: func(t *testing.T, e *fieldEnv) {
			wantRefused(t, captureWith(t, e, `,"docker_image":"x"`), 422, "ValidationError", "docker_image")
		}},
		"fs_capacity_bytes": {honoured: "the new snapshot's fs_capacity_bytes", check: func(t *testing.T, e *fieldEnv) {
			wantField(t, captureWith(t, e, `,"fs_capacity_bytes":4294967296`), 201, "fs_capacity_bytes", 4294967296)
		}},
		"run_config": {refused: "422 ValidationError naming run_config (run_config is per command)", check: func(t *testing.T, e *fieldEnv) {
			wantRefused(t, captureWith(t, e, `,"run_config":{"user":"app"}`), 422, "ValidationError", "run_config")
		}},
		"description": {honoured: "kept and returned by capture and get",
			check: described(captureWith, "description", "after setup", `,"description":"after setup"`)},
		"labels": {honoured: "kept and returned by capture and get",
			check: described(captureWith, "labels", map[string]any{"k": "v"}, `,"labels":{"k":"v"}`)},
		"tag": {honoured: "name:tag resolves to the capture (default latest); an invalid tag is 422", check: tagged(captureWith)},
		"*":   unknownField("POST", "/boxes/dp-box/snapshot", `{"name":"cap"}`),
	},
	"getBox":       {},
	"deleteBox":    {},
	"getBoxStatus": {},
}

// captureWith captures dp-box as snapshot "cap" with extra body fields.
func captureWith(t *testing.T, e *fieldEnv, extra string) reply {
	t.Helper()
	return e.ls(t, "POST", "/boxes/dp-box/snapshot", `{"name":"cap"`+extra+`}`)
}
