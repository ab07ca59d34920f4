package main

// Tenancy: a second tenant walks every served route with the first
// tenant's ids and names. The table of probes is in tenancy_routes_test.go,
// the checks of what A kept in tenancy_checks_test.go.

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// tenantB is the other tenant: its key, and a sandbox of its own whose
// access token it tries on A's sandbox.
type tenantB struct {
	key, sandbox, token, image string
}

// tenancyReply is one answer to a probe.
type tenancyReply struct {
	code         int
	body, header string
}

// Tenants are sealed apart: tenant B, calling every route the router
// serves with A's ids and names (B's key, or for envd B's sandbox's
// token), gets the vendor's 404 (envd: 401), lists nothing of A's, learns
// nothing of A's it did not send, and changes nothing of A's.
func TestTenantsAreSealedApart(t *testing.T) {
	for dbName, db := range databases(t) {
		t.Run(dbName, func(t *testing.T) {
			dir := t.TempDir()
			dbURL := db(t, dir)
			h := newHarness(t, dbURL, dir)
			var logs logBuffer
			h.logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			h.start(true)
			a, b := setUpTenantA(h), setUpTenantB(h)
			t.Cleanup(func() {
				for _, sb := range []string{a.sandbox, a.box, b.sandbox} {
					_ = h.srv.Sandboxes.Kill(core.WithPrincipal(context.Background(), core.Principal{TenantID: tenantOf(sb, b)}), sb)
				}
			})
			before := viewOfA(h, a)
			walkAsB(t, h, &logs, a, b)
			if diff := gocmp.Diff(before, viewOfA(h, a)); diff != "" {
				t.Errorf("tenant A's resources changed during B's walk (-before +after):\n%s", diff)
			}
			checkAUntouched(h, a)
			checkBMadeNothing(h, b)
			checkNamesArePerTenant(h, a, b)
			checkKeysHashedAtRest(t, dbURL, h.key, b.key)
			out := logs.String()
			for what, secret := range map[string]string{
				"A's API key": h.key, "B's API key": b.key, "A's access token": a.token,
				"B's access token": b.token, "A's registry password": "pw-a-secret",
				"B's read signature": bSignature("read", b), "B's write signature": bSignature("write", b),
				"B's read signature, escaped": url.QueryEscape(bSignature("read", b)),
			} {
				if strings.Contains(out, secret) {
					t.Errorf("the log holds %s:\n%s", what, grepLines(out, secret))
				}
			}
		})
	}
}

// walkAsB makes every probe of tenancyTable as B, after checking the
// table covers exactly the routes the router serves.
func walkAsB(t *testing.T, h *harness, logs *logBuffer, a tenantA, b tenantB) {
	t.Helper()
	table := tenancyTable(a, b)
	engine, ok := h.srv.Handler.(*edge.Router)
	if !ok {
		t.Fatalf("server handler is %T, want *edge.Router", h.srv.Handler)
	}
	served := map[string]bool{}
	for _, r := range engine.Routes() {
		route := r.Method + " " + r.Path
		served[route] = true
		if len(table[route]) == 0 {
			t.Errorf("route %s has no tenancy tenancyProbe: add it to tenancyTable", route)
		}
	}
	for route := range table {
		if !served[route] {
			t.Errorf("tenancyTable probes %s, which is not served", route)
		}
	}
	// Deletes go last: one that wrongly succeeded would make every later
	// probe of the resource a 404 and hide other leaks.
	routes := sortedRoutes(table)
	slices.SortStableFunc(routes, func(x, y string) int {
		last := func(r string) int {
			if strings.HasPrefix(r, "DELETE ") {
				return 1
			}
			return 0
		}
		return cmp.Compare(last(x), last(y))
	})
	ids := map[string]string{} // request id -> route probed
	for _, route := range routes {
		for _, p := range table[route] {
			id := fmt.Sprintf("tenancy-%d", len(ids)+1)
			ids[id] = route
			checkProbe(t, route, p, sendProbe(h, a, b, p, id), a)
		}
	}
	t.Logf("%d routes, %d probes as tenant B", len(served), len(ids))
	checkRoutesHit(t, logs, ids)
}

func setUpTenantA(h *harness) tenantA {
	h.t.Helper()
	a := tenantA{snapName: "ta-snap", captureName: "ta-cap", regName: "ta-reg", boxName: "ta-box"}
	code, reg := h.do("POST", "/api/v2/sandboxes/registries",
		`{"name":"ta-reg","url":"registry.example.com","username":"robot-a","password":"pw-a-secret"}`)
	if code != 201 {
		h.t.Fatalf("A creates registry: %d %v", code, reg)
	}
	a.reg = reg["id"].(string)
	a.snap = h.wait(h.create(a.snapName, h.image, 1<<30))["id"].(string)

	code, sb := h.do("POST", "/sandboxes", `{"templateID":"`+a.snap+`","timeout":600,"metadata":{"owner":"tenant-a"}}`)
	if code != 201 {
		h.t.Fatalf("A creates sandbox: %d %v", code, sb)
	}
	a.sandbox, a.token = sb["sandboxID"].(string), sb["envdAccessToken"].(string)
	h.exec(a.sandbox, "sh", "-c", "echo content-of-a > /tmp/a.txt")

	code, snap := h.do("POST", "/sandboxes/"+a.sandbox+"/snapshots", `{"name":"ta-cap"}`)
	if code != 201 {
		h.t.Fatalf("A captures sandbox: %d %v", code, snap)
	}
	a.captureRef = snap["snapshotID"].(string) // E2B names it "<team>/<name>:<tag>"
	code, capture := h.do("GET", "/api/v2/sandboxes/snapshots/"+a.captureName, "")
	if code != 200 {
		h.t.Fatalf("A gets its capture: %d %v", code, capture)
	}
	a.capture = capture["id"].(string)

	code, box := h.do("POST", "/api/v2/sandboxes/boxes",
		`{"snapshot_name":"ta-snap","name":"ta-box","wait_for_ready":true,"labels":{"owner":"tenant-a"}}`)
	if code != 201 {
		h.t.Fatalf("A creates box: %d %v", code, box)
	}
	a.box = box["id"].(string)
	h.exec(a.box, "sh", "-c", "echo content-of-box-a > /tmp/b.txt")

	// A running process and a polled watcher in A's sandbox.
	tgt, err := h.srv.Dataplane.OpenByToken(h.t.Context(), a.sandbox, a.token)
	if err != nil {
		h.t.Fatal(err)
	}
	p, err := h.srv.Dataplane.Start(h.t.Context(), tgt, core.StartProcessRequest{Argv: []string{"sleep", "600"}, Tag: "ta-proc", Stdin: true})
	if err != nil {
		h.t.Fatalf("A starts process: %v", err)
	}
	a.pid = p.Info().PID
	r := envdCall(h, a.sandbox, a.token, "/filesystem.Filesystem/CreateWatcher", `{"path":"/tmp"}`)
	if r.code != 200 || !strings.Contains(r.body, "watcherId") {
		h.t.Fatalf("A creates watcher: %d %s", r.code, r.body)
	}
	a.watcher = strings.Split(strings.Split(r.body, `"watcherId":"`)[1], `"`)[0]
	return a
}

func setUpTenantB(h *harness) tenantB {
	h.t.Helper()
	keys := &core.Keys{Store: h.srv.store, Clock: core.SystemClock{}, IDs: uuid.NewString}
	key, err := keys.Create(h.t.Context(), "tb", "")
	if err != nil {
		h.t.Fatal(err)
	}
	b := tenantB{key: key, image: h.image}
	asB := *h
	asB.key = key
	snap := asB.wait(asB.create("tb-snap", h.image, 1<<30))["id"].(string)
	code, sb := asB.do("POST", "/sandboxes", `{"templateID":"`+snap+`","timeout":600}`)
	if code != 201 {
		h.t.Fatalf("B creates sandbox: %d %v", code, sb)
	}
	b.sandbox, b.token = sb["sandboxID"].(string), sb["envdAccessToken"].(string)
	return b
}

// sendProbe makes p's request as B, with request id id.
func sendProbe(h *harness, a tenantA, b tenantB, p tenancyProbe, id string) tenancyReply {
	h.t.Helper()
	req, _ := http.NewRequest(p.method, h.http.URL+p.path, strings.NewReader(p.body))
	req.Header.Set("X-Request-Id", id)
	if p.ctype != "" {
		req.Header.Set("Content-Type", p.ctype)
	}
	switch p.auth {
	case authKeyB, authAnything:
		req.Header.Set("X-Api-Key", b.key)
	case authKeyBAsA:
		req.Header.Set("X-Api-Key", b.key)
		req.Header.Set("X-Tenant-Id", "it")
	case authTokenB:
		req.Header.Set("E2b-Sandbox-Id", a.sandbox)
		req.Header.Set("X-Access-Token", b.token)
	case authNoToken:
		req.Header.Set("E2b-Sandbox-Id", a.sandbox)
	case authOwnBoxB:
		req.Header.Set("E2b-Sandbox-Id", b.sandbox)
		req.Header.Set("X-Access-Token", b.token)
	}
	return tenancyRoundTrip(h, req)
}

// tenancyRoundTrip sends req and reads the answer, headers included.
func tenancyRoundTrip(h *harness, req *http.Request) tenancyReply {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	// Headers count as the answer too (Location, cursors).
	var hdr strings.Builder
	_ = resp.Header.Write(&hdr)
	return tenancyReply{resp.StatusCode, string(raw), hdr.String()}
}

// envdCall makes a unary envd call to sandbox with token.
func envdCall(h *harness, sandbox, token, path, body string) tenancyReply {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.http.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("E2b-Sandbox-Id", sandbox)
	req.Header.Set("X-Access-Token", token)
	return tenancyRoundTrip(h, req)
}

// checkProbe checks one answer: status, vendor shape, no A data B did not send.
func checkProbe(t *testing.T, route string, p tenancyProbe, r tenancyReply, a tenantA) {
	t.Helper()
	what := fmt.Sprintf("%s (route %s, auth %d)", p.method+" "+p.path, route, p.auth)
	if !p.wants(r.code) {
		t.Errorf("%s = %d %s, want %v", what, r.code, r.body, p.want)
		return
	}
	if r.code >= 400 && p.method != "HEAD" {
		checkVendorShape(t, what, r)
	}
	for _, s := range a.secrets() {
		if s == "" || !strings.Contains(r.body+r.header, s) {
			continue
		}
		if p.list || !strings.Contains(p.sent(a), s) {
			t.Errorf("%s: answer to B holds A's %q: %s", what, s, r.body)
		}
	}
}

// checkVendorShape checks an error body is the vendor's: LangSmith's
// {"detail":{"error","message"}}, E2B's {"code","message"}, or a Connect
// error {"code":"<token>","message"}.
func checkVendorShape(t *testing.T, what string, r tenancyReply) {
	t.Helper()
	for _, shape := range []string{`"detail":{"error":"`, `"code":` + fmt.Sprint(r.code) + `,"message":"`, `{"code":"`} {
		if strings.Contains(r.body, shape) {
			return
		}
	}
	t.Errorf("%s: error body is in no vendor's shape: %q", what, r.body)
}

// checkRoutesHit checks, from the access log, that every probe reached the
// route it was written for (not the not-found handler).
func checkRoutesHit(t *testing.T, logs *logBuffer, ids map[string]string) {
	t.Helper()
	got := map[string]string{}
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < len(ids) && time.Now().Before(deadline) {
		for _, rec := range logs.lines(t, "request") {
			if id, _ := rec["request_id"].(string); ids[id] != "" {
				got[id], _ = rec["route"].(string)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for id, route := range ids {
		path := route[strings.IndexByte(route, ' ')+1:]
		switch logged, ok := got[id]; {
		case !ok && (path == "/healthz" || path == "/readyz" || path == "/metrics"):
			// no request id on probes and scrapes
		case logged != path:
			t.Errorf("tenancyProbe %s of %s reached route %q", id, route, logged)
		}
	}
}

// getRaw is do for answers that are not JSON objects.
func (h *harness) getRaw(method, path string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.http.URL+path, bytes.NewReader(nil))
	req.Header.Set("X-Api-Key", h.key)
	r := tenancyRoundTrip(h, req)
	return r.code, r.body
}

func sortedRoutes[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func tenantOf(sandbox string, b tenantB) string {
	if sandbox == b.sandbox {
		return "tb"
	}
	return "it"
}
