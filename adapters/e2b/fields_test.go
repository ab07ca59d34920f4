package e2b

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/specs"
)

// Every request field the spec defines is either honoured, with an effect
// a test observes, or refused with E2B's 4xx naming it: never accepted and
// dropped. fieldTable says which for every field of every operation,
// TestFieldTableCoversSpec fails when the spec has a field the table does
// not (or the table one the spec lost), and TestFieldTable exercises every
// row. Bodies also refuse fields the spec does not define (edge.Bind); the
// "*" row of each operation with a body checks that.

// fieldRow is what the adapter does with one request field: honoured says
// how check observes its effect, refused which 4xx check expects. A row
// may have both (one value honoured, another refused).
type fieldRow struct {
	honoured, refused string
	check             func(t *testing.T, e *testEnv)
}

// opFields are an operation's rows by field: a body property by name, a
// query parameter as "?name", "*" for a property the spec lacks.
type opFields map[string]fieldRow

func TestFieldTableCoversSpec(t *testing.T) {
	doc, err := specs.E2B(t.Context())
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
				row.check(t, newTestEnv(t))
			})
		}
	}
}

// info is tenant A's GET /sandboxes/{id}.
func (e *testEnv) info(t *testing.T, id string) map[string]any {
	t.Helper()
	r := e.call(t, "GET", "/sandboxes/"+id, e.keyA, "")
	if r.status != 200 {
		t.Fatalf("get %s: %d %s", id, r.status, r.raw)
	}
	return r.body
}

// endsIn is how long until the sandbox's endAt.
func (e *testEnv) endsIn(t *testing.T, id string) time.Duration {
	t.Helper()
	end, err := time.Parse(time.RFC3339Nano, e.info(t, id)["endAt"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return time.Until(end)
}

// ctx is tenant A's principal, for looking at core's records.
func (e *testEnv) ctx(t *testing.T) context.Context {
	t.Helper()
	p, err := e.env.Keys.Authenticate(t.Context(), e.keyA, "")
	if err != nil {
		t.Fatal(err)
	}
	return core.WithPrincipal(t.Context(), p)
}

// wantRefused asserts E2B's error body with status, its message naming field.
func wantRefused(t *testing.T, r reply, status int, field string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d %s, want %d naming %q", r.status, r.raw, status, field)
		return
	}
	if msg := errorOf(t, r); !strings.Contains(msg, field) {
		t.Errorf("message %q does not name %q", msg, field)
	}
}

func wantStatus(t *testing.T, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
}

// ends reports whether d is within a minute below want: a deadline set
// "want from now" a moment ago.
func ends(d, want time.Duration) bool { return d <= want && d > want-time.Minute }

// withUnknown adds "persistent", a field the spec does not define, to a
// JSON object body.
func withUnknown(body string) string {
	if body == "{}" {
		return `{"persistent":true}`
	}
	return strings.Replace(body, "{", `{"persistent":true,`, 1)
}

// unknownField is the "*" row of an operation whose body goes to path
// (a "{id}" in it is a running sandbox of tenant A).
func unknownField(method, path, body string) fieldRow {
	return fieldRow{refused: "400 naming the field", check: func(t *testing.T, e *testEnv) {
		path := strings.ReplaceAll(path, "{id}", e.create(t, `{"templateID":"img"}`))
		wantRefused(t, e.call(t, method, path, e.keyA, withUnknown(body)), 400, "persistent")
	}}
}

// onSandbox is a row whose check runs on a running sandbox of tenant A.
func onSandbox(honoured, refused string, check func(t *testing.T, e *testEnv, id string)) fieldRow {
	return fieldRow{honoured: honoured, refused: refused, check: func(t *testing.T, e *testEnv) {
		check(t, e, e.create(t, `{"templateID":"img"}`))
	}}
}

// listed returns the sandbox ids of tenant A's GET /v2/sandboxes?query and
// its X-Next-Token.
func (e *testEnv) listed(t *testing.T, query string) ([]string, string) {
	t.Helper()
	r := e.call(t, "GET", "/v2/sandboxes?"+query, e.keyA, "")
	wantStatus(t, r, 200)
	var ids []string
	for _, it := range r.list {
		ids = append(ids, it.(map[string]any)["sandboxID"].(string))
	}
	return ids, r.header.Get("X-Next-Token")
}

// snapshotsListed returns tenant A's GET /snapshots?query snapshot ids and
// its X-Next-Token.
func (e *testEnv) snapshotsListed(t *testing.T, query string) ([]string, string) {
	t.Helper()
	r := e.call(t, "GET", "/snapshots?"+query, e.keyA, "")
	wantStatus(t, r, 200)
	var ids []string
	for _, it := range r.list {
		ids = append(ids, it.(map[string]any)["snapshotID"].(string))
	}
	return ids, r.header.Get("X-Next-Token")
}

// snapshotOf captures sandbox id as name and returns its snapshotID.
func (e *testEnv) snapshotOf(t *testing.T, id, name string) string {
	t.Helper()
	r := e.call(t, "POST", "/sandboxes/"+id+"/snapshots", e.keyA, `{"name":"`+name+`"}`)
	wantStatus(t, r, 201)
	return r.body["snapshotID"].(string)
}

var fieldTable = map[string]opFields{
	"postSandboxes":   createFields("/sandboxes", true),
	"postV2Sandboxes": createFields("/v2/sandboxes", false),
	"getV2Sandboxes": {
		"?metadata": {honoured: "only sandboxes whose metadata holds every pair", check: func(t *testing.T, e *testEnv) {
			a := e.create(t, `{"templateID":"img","metadata":{"k":"a b"}}`)
			e.create(t, `{"templateID":"img","metadata":{"k":"other"}}`)
			q := url.Values{"metadata": {"k=" + url.QueryEscape("a b")}}
			if ids, _ := e.listed(t, q.Encode()); !slices.Equal(ids, []string{a}) {
				t.Errorf("metadata k=a b: %v, want [%s]", ids, a)
			}
		}},
		"?state": {honoured: "only sandboxes in those states", check: func(t *testing.T, e *testEnv) {
			paused := e.create(t, `{"templateID":"img"}`)
			e.create(t, `{"templateID":"img"}`)
			wantStatus(t, e.call(t, "POST", "/sandboxes/"+paused+"/pause", e.keyA, "{}"), 204)
			if ids, _ := e.listed(t, "state=paused"); !slices.Equal(ids, []string{paused}) {
				t.Errorf("state=paused: %v, want [%s]", ids, paused)
			}
		}},
		"?limit": {honoured: "the page size; X-Next-Token when more follow", check: func(t *testing.T, e *testEnv) {
			e.create(t, `{"templateID":"img"}`)
			e.create(t, `{"templateID":"img"}`)
			if ids, next := e.listed(t, "limit=1"); len(ids) != 1 || next == "" {
				t.Errorf("limit=1: %v, next token %q", ids, next)
			}
		}},
		"?nextToken": {honoured: "continues after the previous page", check: func(t *testing.T, e *testEnv) {
			older, newer := e.create(t, `{"templateID":"img"}`), e.create(t, `{"templateID":"img"}`)
			first, next := e.listed(t, "limit=1")
			second, _ := e.listed(t, "limit=1&nextToken="+url.QueryEscape(next))
			if !slices.Equal(first, []string{newer}) || !slices.Equal(second, []string{older}) {
				t.Errorf("pages %v then %v, want [%s] then [%s]", first, second, newer, older)
			}
		}},
		"?order": {honoured: "desc: newest first (the default); asc: oldest first, paged by X-Next-Token", check: func(t *testing.T, e *testEnv) {
			a, b, c := e.create(t, `{"templateID":"img"}`), e.create(t, `{"templateID":"img"}`), e.create(t, `{"templateID":"img"}`)
			if ids, _ := e.listed(t, "order=desc"); !slices.Equal(ids, []string{c, b, a}) {
				t.Errorf("order=desc: %v, want [%s %s %s]", ids, c, b, a)
			}
			first, next := e.listed(t, "order=asc&limit=2")
			rest, _ := e.listed(t, "order=asc&limit=2&nextToken="+url.QueryEscape(next))
			if !slices.Equal(first, []string{a, b}) || !slices.Equal(rest, []string{c}) {
				t.Errorf("order=asc pages %v then %v, want [%s %s] then [%s]", first, rest, a, b, c)
			}
		}},
		"?startedAfter": {honoured: "only sandboxes started strictly after the time", check: func(t *testing.T, e *testEnv) {
			older := e.create(t, `{"templateID":"img"}`)
			started, err := time.Parse(time.RFC3339Nano, e.info(t, older)["startedAt"].(string))
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond) // past the store's microsecond precision, certainly
			newer := e.create(t, `{"templateID":"img"}`)
			q := url.Values{"startedAfter": {started.Format(time.RFC3339Nano)}}
			if ids, _ := e.listed(t, q.Encode()); !slices.Equal(ids, []string{newer}) {
				t.Errorf("startedAfter %s: %v, want [%s]", started.Format(time.RFC3339Nano), ids, newer)
			}
			q = url.Values{"startedAfter": {started.Add(-time.Hour).Format("2006-01-02T15:04:05.000Z07:00")}}
			if ids, _ := e.listed(t, q.Encode()); !slices.Equal(ids, []string{newer, older}) {
				t.Errorf("startedAfter an hour before: %v, want [%s %s]", ids, newer, older)
			}
		}},
		"?template": {honoured: "only sandboxes started from that template or snapshot, by name or id", check: func(t *testing.T, e *testEnv) {
			fromImg := e.create(t, `{"templateID":"img"}`)
			snap := e.snapshotOf(t, fromImg, "other")
			fromSnap := e.create(t, `{"templateID":"`+snap+`"}`)
			for _, tc := range []struct{ template, want string }{
				{"img", fromImg}, {"img:default", fromImg}, {e.snapID, fromImg},
				{"other", fromSnap}, {snap, fromSnap},
			} {
				if ids, _ := e.listed(t, "template="+url.QueryEscape(tc.template)); !slices.Equal(ids, []string{tc.want}) {
					t.Errorf("template=%s: %v, want [%s]", tc.template, ids, tc.want)
				}
			}
			if ids, _ := e.listed(t, "template=nothing-by-this-name"); len(ids) != 0 {
				t.Errorf("template of no snapshot: %v, want none", ids)
			}
		}},
	},
	"getSandboxesSandboxID":           {},
	"deleteSandboxesSandboxID":        {},
	"getSandboxesSandboxIDMetrics":    metricsFields(),
	"postSandboxesSandboxIDConnect":   connectFields("/sandboxes/{id}/connect"),
	"postV2SandboxesSandboxIDConnect": connectFields("/v2/sandboxes/{id}/connect"),
	"postSandboxesSandboxIDTimeout": {
		"timeout": onSandbox("endAt becomes now+timeout (shorter too)", "", func(t *testing.T, e *testEnv, id string) {
			wantStatus(t, e.call(t, "POST", "/sandboxes/"+id+"/timeout", e.keyA, `{"timeout":120}`), 204)
			if d := e.endsIn(t, id); !ends(d, 120*time.Second) {
				t.Errorf("ends in %v, want 120s", d)
			}
		}),
		"*": unknownField("POST", "/sandboxes/{id}/timeout", `{"timeout":60}`),
	},
	"postSandboxesSandboxIDPause": {
		"memory": onSandbox("true: paused with its memory", "false: 400 naming memory", func(t *testing.T, e *testEnv, id string) {
			wantRefused(t, e.call(t, "POST", "/sandboxes/"+id+"/pause", e.keyA, `{"memory":false}`), 400, "memory")
			wantStatus(t, e.call(t, "POST", "/sandboxes/"+id+"/pause", e.keyA, `{"memory":true}`), 204)
			if st := e.info(t, id)["state"]; st != "paused" {
				t.Errorf("state %v, want paused", st)
			}
		}),
		"*": unknownField("POST", "/sandboxes/{id}/pause", `{}`),
	},
	"postSandboxesSandboxIDResume": resumeFields(),
	"putSandboxesSandboxIDNetwork": networkUpdateFields(),
	"postSandboxSnapshots": {
		"name": onSandbox("the snapshot's name: snapshotID <team>/<name>:default, names [<team>/<name>]", "", func(t *testing.T, e *testEnv, id string) {
			r := e.call(t, "POST", "/sandboxes/"+id+"/snapshots", e.keyA, `{"name":"my-snap"}`)
			wantStatus(t, r, 201)
			if r.body["snapshotID"] != "tenant-a/my-snap:default" || len(r.body["names"].([]any)) != 1 {
				t.Errorf("snapshot %s", r.raw)
			}
		}),
		"*": unknownField("POST", "/sandboxes/{id}/snapshots", `{}`),
	},
	"getSnapshots": {
		"?sandboxID": {honoured: "only snapshots captured from that sandbox", check: func(t *testing.T, e *testEnv) {
			a, b := e.create(t, `{"templateID":"img"}`), e.create(t, `{"templateID":"img"}`)
			sa := e.snapshotOf(t, a, "from-a")
			e.snapshotOf(t, b, "from-b")
			if ids, _ := e.snapshotsListed(t, "sandboxID="+a); !slices.Equal(ids, []string{sa}) {
				t.Errorf("sandboxID=%s: %v, want [%s]", a, ids, sa)
			}
		}},
		"?name": {honoured: "only snapshots of that name (and tag, if given)", check: func(t *testing.T, e *testEnv) {
			id := e.create(t, `{"templateID":"img"}`)
			want := e.snapshotOf(t, id, "named")
			e.snapshotOf(t, id, "other")
			if ids, _ := e.snapshotsListed(t, "name=named"); !slices.Equal(ids, []string{want}) {
				t.Errorf("name=named: %v, want [%s]", ids, want)
			}
		}},
		"?limit": {honoured: "the page size; X-Next-Token when more follow", check: func(t *testing.T, e *testEnv) {
			id := e.create(t, `{"templateID":"img"}`)
			e.snapshotOf(t, id, "s1")
			if ids, next := e.snapshotsListed(t, "limit=1"); len(ids) != 1 || next == "" {
				t.Errorf("limit=1: %v, next token %q", ids, next)
			}
		}},
		"?nextToken": {honoured: "continues after the previous page", check: func(t *testing.T, e *testEnv) {
			id := e.create(t, `{"templateID":"img"}`)
			e.snapshotOf(t, id, "s1")
			all, _ := e.snapshotsListed(t, "")
			first, next := e.snapshotsListed(t, "limit=1")
			second, _ := e.snapshotsListed(t, "limit=1&nextToken="+next)
			if len(all) < 2 || !slices.Equal(append(first, second...), all[:2]) {
				t.Errorf("pages %v then %v, want the first two of %v", first, second, all)
			}
		}},
	},
	"deleteTemplatesTemplateID": {},
}

// TestUndeclaredQueryRefused sends a query parameter the spec does not
// declare to every operation: it is refused naming it, never ignored.
func TestUndeclaredQueryRefused(t *testing.T) {
	doc, err := specs.E2B(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t)
	id := e.create(t, `{"templateID":"img"}`)
	for _, op := range adaptertest.Operations(doc) {
		t.Run(op.ID, func(t *testing.T) {
			path := adaptertest.Fill(op.Path, map[string]string{"sandboxID": id, "templateID": "img"})
			wantRefused(t, e.call(t, op.Method, path+"?persistent=1", e.keyA, ""), 400, "persistent")
		})
	}
}
