package langsmith

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const snapBody = `{"name":"fs","docker_image":"busybox","fs_capacity_bytes":1073741824`

// snapshotWith creates snapshot "fs" with extra body fields (`,"k":v`).
func snapshotWith(t *testing.T, e *fieldEnv, extra string) reply {
	t.Helper()
	return e.ls(t, "POST", "/snapshots", snapBody+extra+`}`)
}

// described checks that description and labels are kept and returned by
// the create, a get and a list.
func described(create func(t *testing.T, e *fieldEnv, extra string) reply, field string, value any, extra string) func(*testing.T, *fieldEnv) {
	return func(t *testing.T, e *fieldEnv) {
		r := create(t, e, extra)
		if r.status != 201 || !cmp.Equal(r.body[field], value) {
			t.Fatalf("create: %d %s = %v, want %v", r.status, field, r.body[field], value)
		}
		got := e.ls(t, "GET", "/snapshots/"+r.body["id"].(string), "")
		if !cmp.Equal(got.body[field], value) {
			t.Errorf("get: %s = %v, want %v", field, got.body[field], value)
		}
	}
}

// tagged checks that a tag names the snapshot: name:tag finds it,
// name:<another tag> does not.
func tagged(create func(t *testing.T, e *fieldEnv, extra string) reply) func(*testing.T, *fieldEnv) {
	return func(t *testing.T, e *fieldEnv) {
		r := create(t, e, `,"tag":"v1"`)
		wantStatus(t, r, 201)
		name, id := r.body["name"].(string), r.body["id"].(string)
		wantField(t, e.ls(t, "GET", "/snapshots/"+name+"%3Av1", ""), 200, "id", id)
		wantStatus(t, e.ls(t, "GET", "/snapshots/"+name+"%3Av2", ""), 404)
		wantRefused(t, create(t, e, `,"tag":".v1"`), 422, "ValidationError", "tag")
	}
}

var snapshotFields = map[string]opFields{
	"createSnapshot": {
		"name": {honoured: "the snapshot's name; a taken one is 409", check: func(t *testing.T, e *fieldEnv) {
			wantField(t, snapshotWith(t, e, ""), 201, "name", "fs")
			wantStatus(t, snapshotWith(t, e, ""), 409)
		}},
		"docker_image": {honoured: "the image the build pulls, returned normalized", check: func(t *testing.T, e *fieldEnv) {
			r := snapshotWith(t, e, "")
			if img, _ := r.body["docker_image"].(string); r.status != 201 || !strings.Contains(img, "busybox") {
				t.Errorf("docker_image = %v (%d)", r.body["docker_image"], r.status)
			}
		}},
		"fs_capacity_bytes": {honoured: "the snapshot's fs_capacity_bytes", check: func(t *testing.T, e *fieldEnv) {
			wantField(t, snapshotWith(t, e, ""), 201, "fs_capacity_bytes", 1073741824)
		}},
		"registry_id": {honoured: "the registry whose credentials the pull uses, returned; another tenant's or unknown is 422", check: func(t *testing.T, e *fieldEnv) {
			reg := e.ls(t, "POST", "/registries", `{"name":"reg","url":"registry.test","username":"u","password":"p"}`)
			wantStatus(t, reg, 201)
			id := reg.body["id"].(string)
			wantField(t, snapshotWith(t, e, `,"registry_id":"`+id+`"`), 201, "registry_id", id)
			wantRefused(t, e.ls(t, "POST", "/snapshots", `{"name":"fs2","docker_image":"busybox","fs_capacity_bytes":1,"registry_id":"nope"}`),
				422, "ValidationError", "registry_id")
		}},
		"description": {honoured: "kept and returned by create and get",
			check: described(snapshotWith, "description", "base image", `,"description":"base image"`)},
		"labels": {honoured: "kept and returned by create and get",
			check: described(snapshotWith, "labels", map[string]any{"team": "ml"}, `,"labels":{"team":"ml"}`)},
		"tag": {honoured: "name:tag resolves to the snapshot (default latest); an invalid tag is 422", check: tagged(snapshotWith)},
		"run_config": {refused: "422 ValidationError naming run_config (run_config is per command)", check: func(t *testing.T, e *fieldEnv) {
			wantRefused(t, snapshotWith(t, e, `,"run_config":{"user":"app"}`), 422, "ValidationError", "run_config")
			wantStatus(t, snapshotWith(t, e, `,"run_config":{}`), 201)
		}},
		"*": unknownField("POST", "/snapshots", snapBody+"}"),
	},
	"listSnapshots": pagingFields("/snapshots", "snapshots", func(t *testing.T, e *fieldEnv) {
		for _, n := range []string{"fld-1", "fld-2", "fld-3"} {
			wantStatus(t, e.ls(t, "POST", "/snapshots", `{"name":"`+n+`","docker_image":"busybox","fs_capacity_bytes":1}`), 201)
		}
	}),
	"getSnapshot":    {},
	"deleteSnapshot": {},
}

const registryBody = `{"name":"reg","url":"registry.test/team","username":"robot","password":"secret"`

func registryWith(t *testing.T, e *fieldEnv, extra string) reply {
	t.Helper()
	return e.ls(t, "POST", "/registries", registryBody+extra+`}`)
}

// registryRows are the rows create and update share: update sends the
// field to a registry created without it.
func registryRows(update bool) opFields {
	send := func(t *testing.T, e *fieldEnv, field string) reply {
		t.Helper()
		if !update {
			return registryWith(t, e, ","+field)
		}
		wantStatus(t, registryWith(t, e, ""), 201)
		return e.ls(t, "PATCH", "/registries/reg", "{"+field+"}")
	}
	status := 201
	if update {
		status = 200
	}
	rows := opFields{
		"name": {honoured: "the registry's name, by which it is addressed", check: func(t *testing.T, e *fieldEnv) {
			wantField(t, send(t, e, `"name":"other"`), status, "name", "other")
			wantStatus(t, e.ls(t, "GET", "/registries/other", ""), 200)
		}},
		"url": {honoured: "the registry's url", check: func(t *testing.T, e *fieldEnv) {
			wantField(t, send(t, e, `"url":"mirror.test"`), status, "url", "mirror.test")
		}},
		"username": {honoured: "the registry's username", check: func(t *testing.T, e *fieldEnv) {
			wantField(t, send(t, e, `"username":"bot2"`), status, "username", "bot2")
		}},
		"password": {honoured: "stored (sealed) for pulls, never returned", check: func(t *testing.T, e *fieldEnv) {
			r := send(t, e, `"password":"s3cret"`)
			wantStatus(t, r, status)
			if _, ok := r.body["password"]; ok {
				t.Error("password returned")
			}
			reg, err := e.env.Registries.Get(e.ctx(t), r.body["name"].(string))
			if err != nil || reg.Password != "s3cret" {
				t.Errorf("stored password %q, %v", reg.Password, err)
			}
		}},
		"auth_type": {honoured: "DOCKER_CONFIG, returned", refused: "AWS_ROLE: 422 ValidationError naming it", check: func(t *testing.T, e *fieldEnv) {
			wantField(t, send(t, e, `"auth_type":"DOCKER_CONFIG"`), status, "auth_type", "DOCKER_CONFIG")
			wantRefused(t, e.ls(t, "PATCH", "/registries/reg", `{"auth_type":"AWS_ROLE"}`), 422, "ValidationError", "AWS_ROLE")
		}},
		"aws_role_arn": {refused: "422 ValidationError naming aws_role_arn", check: func(t *testing.T, e *fieldEnv) {
			wantRefused(t, send(t, e, `"aws_role_arn":"arn:aws:iam::1:role/x"`), 422, "ValidationError", "aws_role_arn")
		}},
	}
	if update {
		rows["*"] = fieldRow{refused: "422 ValidationError naming the field", check: func(t *testing.T, e *fieldEnv) {
			wantStatus(t, registryWith(t, e, ""), 201)
			wantRefused(t, e.ls(t, "PATCH", "/registries/reg", withUnknown(`{"username":"x"}`)), 422, "ValidationError", "persistent")
		}}
	} else {
		rows["*"] = unknownField("POST", "/registries", registryBody+"}")
	}
	return rows
}

var registryFields = map[string]opFields{
	"createRegistry": registryRows(false),
	"updateRegistry": registryRows(true),
	"listRegistries": pagingFields("/registries", "registries", func(t *testing.T, e *fieldEnv) {
		for _, n := range []string{"fld-1", "fld-2", "fld-3"} {
			wantStatus(t, e.ls(t, "POST", "/registries", `{"name":"`+n+`","url":"r.test"}`), 201)
		}
	}),
	"getRegistry":    {},
	"deleteRegistry": {},
}
