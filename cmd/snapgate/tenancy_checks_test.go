package main

// What tenant A still has, and tenant B got, after B's walk.

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/core"
)

// viewOfA is what A sees of its resources; nothing in it may change.
func viewOfA(h *harness, a tenantA) map[string]map[string]any {
	h.t.Helper()
	out := map[string]map[string]any{}
	for _, path := range []string{
		"/api/v2/sandboxes/snapshots/" + a.snap, "/api/v2/sandboxes/snapshots/" + a.capture,
		"/api/v2/sandboxes/registries/" + a.regName, "/api/v2/sandboxes/boxes/" + a.box,
		"/sandboxes/" + a.sandbox, "/sandboxes/" + a.box,
	} {
		code, body := h.do("GET", path, "")
		if code != 200 {
			h.t.Errorf("A: GET %s = %d %v", path, code, body)
		}
		out[path] = body
	}
	return out
}

// checkAUntouched checks what the API views do not show: files, the
// process, the watcher, the registry password.
func checkAUntouched(h *harness, a tenantA) {
	h.t.Helper()
	if got := h.exec(a.sandbox, "sh", "-c", "cat /tmp/a.txt; ls /tmp"); !strings.HasPrefix(got, "content-of-a\n") || strings.Contains(got, "pwned") || strings.Contains(got, "moved") {
		h.t.Errorf("A's sandbox files changed: %q", got)
	}
	if got := h.exec(a.box, "cat", "/tmp/b.txt"); got != "content-of-box-a\n" {
		h.t.Errorf("A's box file changed: %q", got)
	}
	r := envdCall(h, a.sandbox, a.token, "/process.Process/List", `{}`)
	if r.code != 200 || !strings.Contains(r.body, fmt.Sprintf(`"pid":%d`, a.pid)) {
		h.t.Errorf("A's process %d is gone: %d %s", a.pid, r.code, r.body)
	}
	if r := envdCall(h, a.sandbox, a.token, "/filesystem.Filesystem/GetWatcherEvents", `{"watcherId":"`+a.watcher+`"}`); r.code != 200 {
		h.t.Errorf("A's watcher is gone: %d %s", r.code, r.body)
	}
	reg, err := h.srv.store.GetRegistry(h.t.Context(), "it", a.reg)
	if err != nil || reg.Password != "pw-a-secret" || reg.Username != "robot-a" {
		h.t.Errorf("A's registry changed or is gone: %v", err)
	}
}

// checkBMadeNothing checks B's creates that named A's resources left
// nothing behind in B's tenant.
func checkBMadeNothing(h *harness, b tenantB) {
	h.t.Helper()
	asB := *h
	asB.key = b.key
	_, snaps := asB.do("GET", "/api/v2/sandboxes/snapshots", "")
	var names []string
	list, _ := snaps["snapshots"].([]any)
	for _, s := range list {
		name, _ := s.(map[string]any)["name"].(string)
		names = append(names, name)
	}
	if !slices.Equal(names, []string{"tb-snap"}) {
		h.t.Errorf("B's snapshots = %v, want only tb-snap", names)
	}
	code, body := asB.getRaw("GET", "/v2/sandboxes")
	if code != 200 || strings.Count(body, `"sandboxID"`) != 1 || !strings.Contains(body, b.sandbox) {
		h.t.Errorf("B's sandboxes = %d %s, want only %s", code, body, b.sandbox)
	}
}

// checkNamesArePerTenant: B may use the names A uses (names are per
// tenant, so a conflict would tell B that A has one), and A's resources
// of those names stay A's.
func checkNamesArePerTenant(h *harness, a tenantA, b tenantB) {
	h.t.Helper()
	asB := *h
	asB.key = b.key
	if code, out := asB.do("POST", "/api/v2/sandboxes/registries", `{"name":"`+a.regName+`","url":"registry.example.com"}`); code != 201 {
		h.t.Errorf("B creates a registry named like A's: %d %v", code, out)
	}
	code, box := asB.do("POST", "/api/v2/sandboxes/boxes", `{"snapshot_name":"tb-snap","name":"`+a.boxName+`","wait_for_ready":true}`)
	if code != 201 {
		h.t.Fatalf("B creates a box named like A's: %d %v", code, box)
	}
	h.t.Cleanup(func() {
		_ = h.srv.Sandboxes.Kill(core.WithPrincipal(context.Background(), core.Principal{TenantID: "tb"}), box["id"].(string))
	})
	// A snapshot built and one captured (E2B: a repeated name takes the
	// tag) under A's names stay B's.
	asB.wait(asB.create(a.snapName, h.image, 1<<30))
	if code, out := asB.do("POST", "/sandboxes/"+b.sandbox+"/snapshots", `{"name":"`+a.captureName+`"}`); code != 201 {
		h.t.Errorf("B captures under A's capture name: %d %v", code, out)
	}
	for path, want := range map[string]string{
		"/api/v2/sandboxes/boxes/" + a.boxName:                        a.box,
		"/api/v2/sandboxes/registries/" + a.regName:                   a.reg,
		"/api/v2/sandboxes/snapshots/" + a.snapName:                   a.snap,
		"/api/v2/sandboxes/snapshots/" + a.captureName:                a.capture,
		"/api/v2/sandboxes/snapshots/" + url.PathEscape(a.captureRef): a.capture,
	} {
		if code, got := h.do("GET", path, ""); code != 200 || got["id"] != want {
			h.t.Errorf("A: GET %s after B made its namesake = %d %v, want id %s", path, code, got, want)
		}
	}
}

// checkKeysHashedAtRest reads what the database holds of API keys (the
// SQLite files byte by byte; Postgres's api_keys rows as text): no key as
// sent, only its SHA-256 (found, so the right data was read).
func checkKeysHashedAtRest(t *testing.T, dbURL string, keys ...string) {
	t.Helper()
	var all []byte
	if strings.HasPrefix(dbURL, "postgres") {
		db, err := sql.Open("pgx", dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var rows string
		if err := db.QueryRowContext(t.Context(), `SELECT string_agg(row_to_json(k)::text, ' ') FROM api_keys k`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		all = []byte(rows)
	} else {
		files, _ := filepath.Glob(dbURL + "*")
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, raw...)
		}
	}
	for _, k := range keys {
		if bytes.Contains(all, []byte(k[4:])) {
			t.Errorf("the database holds an API key in clear")
		}
		if !bytes.Contains(all, []byte(core.HashKey(k))) {
			t.Errorf("the database does not hold the hash of a key")
		}
	}
}
