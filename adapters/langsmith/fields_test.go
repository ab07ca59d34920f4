package langsmith

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/specs"
)

// Every request field the spec defines is either honoured, with an effect
// a test observes, or refused with LangSmith's 4xx naming it: never
// accepted and dropped. fieldTable says which for every field of every
// operation, TestFieldTableCoversSpec fails when the spec has a field the
// table does not (or the table one the spec lost), and TestFieldTable
// exercises every row. Bodies also refuse fields the spec does not define
// (edge.Bind); the "*" row of each operation with a body checks that.

// fieldRow is what the adapter does with one request field: honoured says
// how check observes its effect, refused which 4xx check expects. A row
// may have both (one value honoured, another refused).
type fieldRow struct {
	honoured, refused string
	check             func(t *testing.T, e *fieldEnv)
}

// opFields are an operation's rows by field: a body property by name, a
// query parameter as "?name", and "*" (adaptertest.UnknownField) for a
// property the spec lacks.
type opFields map[string]fieldRow

// fieldTable is every operation's rows, by operationId.
var fieldTable = mergeTables(snapshotFields, registryFields, boxFields, dataplaneFields, serviceURLFields)

func mergeTables(parts ...map[string]opFields) map[string]opFields {
	out := map[string]opFields{}
	for _, p := range parts {
		for op, rows := range p {
			out[op] = rows
		}
	}
	return out
}

func TestFieldTableCoversSpec(t *testing.T) {
	doc, err := specs.LangSmith(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	adaptertest.CheckFieldCoverage(t, doc, fieldTable, func(r fieldRow) bool {
		return (r.honoured != "" || r.refused != "") && r.check != nil
	})
}

func TestFieldTable(t *testing.T) {
	for op, rows := range fieldTable {
		for field, row := range rows {
			t.Run(op+"/"+field, func(t *testing.T) {
				t.Parallel()
				row.check(t, newFieldEnv(t))
			})
		}
	}
}

// fieldEnv is a served adapter with a dataplane and a ready box, dp-box.
type fieldEnv struct{ *dataplaneEnv }

func newFieldEnv(t *testing.T) *fieldEnv { return &fieldEnv{newDataplaneEnv(t)} }

// ls calls the control plane as tenant A (path relative to /api/v2/sandboxes).
func (e *fieldEnv) ls(t *testing.T, method, path, body string) reply {
	t.Helper()
	return call(t, e.srv, method, "/api/v2/sandboxes"+path, e.keyA, body)
}

// ctx is tenant A's principal, for looking at core's records.
func (e *fieldEnv) ctx(t *testing.T) context.Context {
	t.Helper()
	p, err := e.env.Keys.Authenticate(t.Context(), e.keyA, "")
	if err != nil {
		t.Fatal(err)
	}
	return core.WithPrincipal(t.Context(), p)
}

// snapshot creates a ready image snapshot of tenant A.
func (e *fieldEnv) snapshot(t *testing.T, name string) string {
	t.Helper()
	r := e.ls(t, "POST", "/snapshots", `{"name":"`+name+`","docker_image":"busybox","fs_capacity_bytes":1073741824}`)
	wantStatus(t, r, 201)
	id := r.body["id"].(string)
	waitReady(t, func() reply { return e.ls(t, "GET", "/snapshots/"+id, "") })
	return id
}

// box returns core's record of a box of tenant A.
func (e *fieldEnv) box(t *testing.T, ref string) *core.Sandbox {
	t.Helper()
	sb, err := e.env.Sandboxes.Get(e.ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

func wantStatus(t *testing.T, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %v", r.status, status, r.body)
	}
}

// wantField asserts a 2xx-or-given status and one field of the body.
func wantField(t *testing.T, r reply, status int, field string, want any) {
	t.Helper()
	wantStatus(t, r, status)
	// want as it reads back from JSON (numbers are float64).
	raw, _ := json.Marshal(want)
	var w any
	_ = json.Unmarshal(raw, &w)
	if got := r.body[field]; !cmp.Equal(got, w) {
		t.Errorf("%s = %v, want %v", field, got, w)
	}
}

// wantRefused asserts LangSmith's error body with status and token, its
// message naming field.
func wantRefused(t *testing.T, r reply, status int, token, field string) {
	t.Helper()
	gotToken, msg := detail(r)
	if r.status != status || gotToken != token || !strings.Contains(msg, field) {
		t.Errorf("got %d %s %q, want %d %s naming %q", r.status, gotToken, msg, status, token, field)
	}
}

// unknownField is the "*" row of an operation whose body is sent to path.
func unknownField(method, path, body string) fieldRow {
	return fieldRow{refused: "422 ValidationError naming the field", check: func(t *testing.T, e *fieldEnv) {
		r := e.ls(t, method, path, withUnknown(body))
		wantRefused(t, r, 422, "ValidationError", "persistent")
	}}
}

// withUnknown adds "persistent", a field of the vendor's API snapgate does
// not define, to a JSON object body.
func withUnknown(body string) string {
	if body == "{}" {
		return `{"persistent":true}`
	}
	return strings.Replace(body, "{", `{"persistent":true,`, 1)
}

// within reports whether d is within a minute below want: a deadline set
// "want from now" a moment ago.
func within(d, want time.Duration) bool { return d <= want && d > want-time.Minute }

// pagingFields are the list parameters every list operation shares; seed
// makes at least three items, list is the envelope's vendor key.
func pagingFields(path, list string, seed func(t *testing.T, e *fieldEnv)) opFields {
	names := func(t *testing.T, e *fieldEnv, query string) []string {
		t.Helper()
		r := e.ls(t, "GET", path+query, "")
		wantStatus(t, r, 200)
		var out []string
		for _, it := range r.body[list].([]any) {
			out = append(out, it.(map[string]any)["name"].(string))
		}
		return out
	}
	offset := func(param string) fieldRow {
		return fieldRow{honoured: "the page starts that many items in", check: func(t *testing.T, e *fieldEnv) {
			seed(t, e)
			all := names(t, e, "")
			if got := names(t, e, "?"+param+"=1"); !slices.Equal(got, all[1:]) {
				t.Errorf("%s=1: %v, want %v", param, got, all[1:])
			}
		}}
	}
	limit := func(param string) fieldRow {
		return fieldRow{honoured: "the page holds that many items and next_cursor points past them", check: func(t *testing.T, e *fieldEnv) {
			seed(t, e)
			r := e.ls(t, "GET", path+"?"+param+"=1", "")
			wantField(t, r, 200, "next_cursor", "1")
			if n := len(r.body[list].([]any)); n != 1 {
				t.Errorf("%s=1: %d items", param, n)
			}
		}}
	}
	return opFields{
		"?name_contains": {honoured: "only names containing it are listed", check: func(t *testing.T, e *fieldEnv) {
			seed(t, e)
			if got := names(t, e, "?name_contains=ld-2"); !slices.Equal(got, []string{"fld-2"}) {
				t.Errorf("name_contains=ld-2: %v, want [fld-2]", got)
			}
		}},
		"?limit": limit("limit"), "?page_size": limit("page_size"),
		"?offset": offset("offset"), "?cursor": offset("cursor"),
	}
}

// TestUndeclaredQueryRefused sends a query parameter the spec does not
// declare to every operation: it is refused naming it, never ignored.
func TestUndeclaredQueryRefused(t *testing.T) {
	doc, err := specs.LangSmith(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e := newFieldEnv(t)
	for _, op := range adaptertest.Operations(doc) {
		t.Run(op.ID, func(t *testing.T) {
			path := adaptertest.Fill(op.Path, map[string]string{
				"snapshot_ref": "base", "registry_name": "reg", "box_name": "dp-box", "box": "dp-box",
			})
			r := call(t, e.srv, op.Method, path+"?persistent=1", e.keyA, "")
			status, token := 422, "ValidationError"
			if strings.HasPrefix(op.Path, "/dataplane/") {
				status, token = 400, "" // the operation's own token
			}
			if r.status != status {
				t.Fatalf("status %d (%v), want %d", r.status, r.body, status)
			}
			if op.Method == "HEAD" {
				return
			}
			gotToken, msg := detail(r)
			if (token != "" && gotToken != token) || !strings.Contains(msg, "persistent") {
				t.Errorf("error %s %q, want %s naming persistent", gotToken, msg, token)
			}
		})
	}
}
