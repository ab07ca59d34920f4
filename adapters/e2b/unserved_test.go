package e2b

import (
	"strings"
	"testing"
)

// Every route the SDK calls that snapgate does not serve answers 501 in
// E2B's shape, naming the operation, for tenant A's sandbox; never the
// unknown-route 404, which the SDK reads as "sandbox not found". Another
// tenant's sandbox is 404 as on every route, and no key is 401.
func TestUnservedRoutesAnswer501(t *testing.T) {
	e := newTestEnv(t)
	id := e.create(t, `{"templateID":"`+e.snapID+`"}`)
	for _, rt := range unserved {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			path := rt.path
			for _, p := range []string{":sandboxID", ":templateID", ":buildID", ":hash", ":alias", ":secretID", ":volumeID"} {
				path = strings.ReplaceAll(path, p, id)
			}
			onSandbox := strings.Contains(rt.path, ":sandboxID")
			r := e.call(t, rt.method, path, e.keyA, "")
			want := rt.method + " " + strings.ReplaceAll(rt.path, ":sandboxID", "{sandboxID}")
			if msg := errorOf(t, r); r.status != 501 || !strings.HasSuffix(msg, " is not served by this server yet") ||
				onSandbox && !strings.HasPrefix(msg, want) {
				t.Errorf("A: %d %s, want 501 naming %s", r.status, r.raw, want)
			}
			r = e.call(t, rt.method, path, e.keyB, "")
			if wantB := map[bool]int{true: 404, false: 501}[onSandbox]; r.status != wantB {
				t.Errorf("B: %d %s, want %d", r.status, r.raw, wantB)
			}
			errorOf(t, r)
			if r = e.call(t, rt.method, path, "", ""); r.status != 401 {
				t.Errorf("no key: %d %s, want 401", r.status, r.raw)
			}
			errorOf(t, r)
			if onSandbox {
				r = e.call(t, rt.method, strings.ReplaceAll(rt.path, ":sandboxID", "inope"), e.keyA, "")
				if r.status != 404 {
					t.Errorf("unknown sandbox: %d %s, want 404", r.status, r.raw)
				}
			}
		})
	}
}
