package e2b

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// createWith posts a create body to path and returns the reply.
func createWith(t *testing.T, e *testEnv, path, extra string) reply {
	t.Helper()
	return e.call(t, "POST", path, e.keyA, `{"templateID":"img"`+extra+`}`)
}

// created posts a create body to path and returns the new sandbox's id.
func created(t *testing.T, e *testEnv, path, extra string) string {
	t.Helper()
	r := createWith(t, e, path, extra)
	wantStatus(t, r, 201)
	return r.body["sandboxID"].(string)
}

// refusedValues is a row whose given values are accepted (the default
// behaviour) and whose refused ones are 400 naming field.
func refusedValues(path, field, honoured, refused string, accepted, bad []string) fieldRow {
	return fieldRow{honoured: honoured, refused: refused, check: func(t *testing.T, e *testEnv) {
		for _, v := range accepted {
			created(t, e, path, `,"`+field+`":`+v)
		}
		for _, v := range bad {
			extra := `,"` + field + `":` + v
			if field == "autoPauseMemory" {
				extra = `,"autoPause":true` + extra
			}
			wantRefused(t, createWith(t, e, path, extra), 400, field)
		}
	}}
}

// createFields are the rows of the v1 and v2 creates (v1 adds secure).
func createFields(path string, v1 bool) opFields {
	rows := opFields{
		"templateID": {honoured: "the snapshot the sandbox starts from, returned; an unknown one is 404", check: func(t *testing.T, e *testEnv) {
			r := createWith(t, e, path, "")
			if r.status != 201 || r.body["templateID"] != "img" {
				t.Errorf("create: %d %s", r.status, r.raw)
			}
			wantStatus(t, e.call(t, "POST", path, e.keyA, `{"templateID":"nope"}`), 404)
		}},
		"timeout": {honoured: "endAt is now+timeout", check: func(t *testing.T, e *testEnv) {
			id := created(t, e, path, `,"timeout":120`)
			if d := e.endsIn(t, id); !ends(d, 120*time.Second) {
				t.Errorf("ends in %v, want 120s", d)
			}
		}},
		"metadata": {honoured: "returned by get and list, and filters the list", check: func(t *testing.T, e *testEnv) {
			id := created(t, e, path, `,"metadata":{"k":"v"}`)
			if m := e.info(t, id)["metadata"]; !cmp.Equal(m, map[string]any{"k": "v"}) {
				t.Errorf("metadata = %v", m)
			}
		}},
		"envVars": {honoured: "the environment of every process in the sandbox (core's record, which envd starts processes with)", check: func(t *testing.T, e *testEnv) {
			id := created(t, e, path, `,"envVars":{"E":"1"}`)
			sb, err := e.env.Sandboxes.Get(e.ctx(t), id)
			if err != nil || sb.Env["E"] != "1" {
				t.Errorf("env = %v, %v", sb.Env, err)
			}
		}},
		"autoPause": {honoured: "lifecycle.onTimeout pause: paused instead of killed at the timeout", check: func(t *testing.T, e *testEnv) {
			id := created(t, e, path, `,"autoPause":true`)
			if lc := e.info(t, id)["lifecycle"].(map[string]any); lc["onTimeout"] != "pause" {
				t.Errorf("lifecycle = %v", lc)
			}
		}},
		"autoPauseMemory": refusedValues(path, "autoPauseMemory", "true (the default): a pause keeps memory",
			"false with autoPause: 400 naming autoPauseMemory", []string{"true"}, []string{"false"}),
		"autoResume": refusedValues(path, "autoResume", "enabled false (the default): resumed by connect only",
			"enabled true: 400 naming autoResume", []string{`{"enabled":false}`}, []string{`{"enabled":true}`}),
		"iam": refusedValues(path, "iam", "{} or null (no identities)",
			"any identity: 400 naming iam", []string{"{}", "null"}, []string{`{"tokens":{"a":{}}}`}),
		"mcp": refusedValues(path, "mcp", "null (no MCP gateway)",
			"any configuration: 400 naming mcp", []string{"null"}, []string{"{}"}),
		"volumeMounts": refusedValues(path, "volumeMounts", "[] or null (no volumes)",
			"any mount: 400 naming volumeMounts", []string{"[]", "null"}, []string{`[{"name":"v","path":"/data"}]`}),
		"*": unknownField("POST", path, `{"templateID":"img"}`),
	}
	for k, v := range createNetworkRows(path) {
		rows[k] = v
	}
	if v1 {
		rows["secure"] = fieldRow{honoured: "the sandbox is always secured: an envdAccessToken is returned (and envd requires it) either way", check: func(t *testing.T, e *testEnv) {
			for _, v := range []string{"true", "false"} {
				r := createWith(t, e, path, `,"secure":`+v)
				if tok, _ := r.body["envdAccessToken"].(string); r.status != 201 || tok == "" {
					t.Errorf("secure %s: %d %s", v, r.status, r.raw)
				}
			}
		}}
	}
	return rows
}

// connectFields are the rows of both connects; path has "{id}".
func connectFields(path string) opFields {
	at := func(id string) string { return strings.ReplaceAll(path, "{id}", id) }
	return opFields{
		"timeout": onSandbox("extends a running sandbox's endAt to now+timeout (never shortens)", "", func(t *testing.T, e *testEnv, id string) {
			wantStatus(t, e.call(t, "POST", "/sandboxes/"+id+"/timeout", e.keyA, `{"timeout":60}`), 204)
			wantStatus(t, e.call(t, "POST", at(id), e.keyA, `{"timeout":3600}`), 200)
			if d := e.endsIn(t, id); !ends(d, time.Hour) {
				t.Errorf("ends in %v, want 1h", d)
			}
			wantStatus(t, e.call(t, "POST", at(id), e.keyA, `{"timeout":60}`), 200)
			if d := e.endsIn(t, id); !ends(d, time.Hour) {
				t.Errorf("after a shorter connect: ends in %v, want 1h still", d)
			}
		}),
		"memory": onSandbox("true: resumed with its memory (201)", "false: 400 naming memory", func(t *testing.T, e *testEnv, id string) {
			wantStatus(t, e.call(t, "POST", "/sandboxes/"+id+"/pause", e.keyA, `{}`), 204)
			wantRefused(t, e.call(t, "POST", at(id), e.keyA, `{"timeout":60,"memory":false}`), 400, "memory")
			wantStatus(t, e.call(t, "POST", at(id), e.keyA, `{"timeout":60,"memory":true}`), 201)
		}),
		"*": unknownField("POST", path, `{"timeout":60}`),
	}
}

func resumeFields() opFields {
	resume := func(t *testing.T, e *testEnv, id, body string) reply {
		t.Helper()
		wantStatus(t, e.call(t, "POST", "/sandboxes/"+id+"/pause", e.keyA, `{}`), 204)
		return e.call(t, "POST", "/sandboxes/"+id+"/resume", e.keyA, body)
	}
	return opFields{
		"timeout": onSandbox("endAt is now+timeout", "", func(t *testing.T, e *testEnv, id string) {
			wantStatus(t, resume(t, e, id, `{"timeout":120}`), 201)
			if d := e.endsIn(t, id); !ends(d, 120*time.Second) {
				t.Errorf("ends in %v, want 120s", d)
			}
		}),
		"autoPause": onSandbox("lifecycle.onTimeout: pause when true, kill when false", "", func(t *testing.T, e *testEnv, id string) {
			wantStatus(t, resume(t, e, id, `{"autoPause":true}`), 201)
			if lc := e.info(t, id)["lifecycle"].(map[string]any); lc["onTimeout"] != "pause" {
				t.Errorf("autoPause true: lifecycle = %v", lc)
			}
			wantStatus(t, resume(t, e, id, `{"autoPause":false}`), 201)
			if lc := e.info(t, id)["lifecycle"].(map[string]any); lc["onTimeout"] != "kill" {
				t.Errorf("autoPause false: lifecycle = %v", lc)
			}
		}),
		"memory": onSandbox("true: resumed with its memory", "false: 400 naming memory", func(t *testing.T, e *testEnv, id string) {
			wantRefused(t, resume(t, e, id, `{"memory":false}`), 400, "memory")
			wantStatus(t, e.call(t, "POST", "/sandboxes/"+id+"/resume", e.keyA, `{"memory":true}`), 201)
		}),
		"*": unknownField("POST", "/sandboxes/{id}/resume", `{}`),
	}
}
