package langsmith

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"

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
// query parameter as "?name", and "*" for a property the spec lacks.
type opFields map[string]fieldRow

// fieldTable is every operation's rows, by operationId.
var fieldTable = mergeTables(snapshotFields, registryFields, boxFields, dataplaneFields)

func mergeTables(parts ...map[string]opFields) map[string]opFields {
	out := map[string]opFields{}
	for _, p := range parts {
		for op, rows := range p {
			out[op] = rows
		}
	}
	return out
}

// specFields lists each operation's request fields as fieldTable names them.
func specFields(t *testing.T, doc *openapi3.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			var fields []string
			for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
				if p.Value.In == openapi3.ParameterInQuery {
					fields = append(fields, "?"+p.Value.Name)
				}
			}
			if op.RequestBody != nil {
				for _, mt := range op.RequestBody.Value.Content {
					for name := range mt.Schema.Value.Properties {
						fields = append(fields, name)
					}
					fields = append(fields, "*")
				}
			}
			slices.Sort(fields)
			out[op.OperationID] = slices.Compact(fields)
		}
	}
	return out
}

func TestFieldTableCoversSpec(t *testing.T) {
	doc, err := specs.LangSmith(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ops := specFields(t, doc)
	for op, fields := range ops {
		rows, ok := fieldTable[op]
		if !ok {
			t.Errorf("operation %s is not in fieldTable", op)
			continue
		}
		for _, f := range fields {
			row, ok := rows[f]
			switch {
			case !ok:
				t.Errorf("%s: field %q is neither honoured nor refused in fieldTable", op, f)
			case row.honoured == "" && row.refused == "", row.check == nil:
				t.Errorf("%s: field %q: its row says nothing or checks nothing", op, f)
			}
		}
		for f := range rows {
			if !slices.Contains(fields, f) {
				t.Errorf("%s: fieldTable has field %q, the spec does not", op, f)
			}
		}
	}
	for op := range fieldTable {
		if _, ok := ops[op]; !ok {
			t.Errorf("fieldTable has operation %s, the spec does not", op)
		}
	}
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
