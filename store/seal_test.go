package store_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/secrets"
	"github.com/snapgate/snapgate/store"
)

// sealEnv is what a sealing case gets: a store sealing with suiteKey on a
// database of its own, and that database, to read around the store.
type sealEnv struct {
	st      *store.Store
	backend string
	dsn     string
}

func TestSealing(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, e sealEnv)
	}{
		{"secrets are not in the database in clear", testSecretsNotInClear},
		{"clear secrets from before are sealed on open", testClearSecretsSealedOnOpen},
		{"rotation re-seals with the new key", testSecretKeyRotation},
		{"wrong secret key fails the open clearly", testWrongSecretKey},
	}
	for _, b := range store.TestBackends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					dsn := b.Fresh(t)
					c.run(t, sealEnv{st: openStore(t, dsn), backend: b.Name, dsn: dsn})
				})
			}
		})
	}
}

// openSealed opens the case's database with a keyring of keys.
func openSealed(t *testing.T, e sealEnv, keys ...[]byte) (*store.Store, error) {
	t.Helper()
	ring, err := secrets.New(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(t.Context(), store.Options{DSN: e.dsn, Logger: testLogger(t), Sealer: ring})
	if err == nil {
		t.Cleanup(func() { _ = st.Close() })
	}
	return st, err
}

// rawContents is everything the database holds, read around the store: the
// SQLite files' bytes (the WAL included, where fresh writes sit), or every
// row of the two tables with secrets as JSON text on Postgres.
func rawContents(t *testing.T, e sealEnv) string {
	t.Helper()
	if e.backend != "postgres" {
		var all []byte
		for _, p := range []string{e.dsn, e.dsn + "-wal", e.dsn + "-shm"} {
			b, err := os.ReadFile(p)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return string(all)
	}
	var rows []string
	for _, table := range []string{"registries", "sandboxes"} {
		var got []string
		if err := store.RawDB(t, e.backend, e.dsn).WithContext(t.Context()).Raw("SELECT row_to_json(t)::text FROM " + table + " t").Scan(&got).Error; err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		rows = append(rows, got...)
	}
	return strings.Join(rows, "\n")
}

// The attack: a copy of the database (a backup, a stolen SQLite file, a
// read-only SQL role) yields registry passwords and envd tokens that pull
// private images and run commands in every sandbox.
func testSecretsNotInClear(t *testing.T, e sealEnv) {
	g := registry("t1", "private")
	g.Password = "registry-password-" + newID()
	mustCreateRegistry(t, e.st, g)
	b := sandbox("t1", "box", base)
	b.AccessToken = "envd-token-" + newID()
	mustCreateSandbox(t, e.st, b)
	newPassword := "rotated-password-" + newID()
	g.Password = newPassword
	if err := e.st.UpdateRegistry(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	raw := rawContents(t, e)
	for _, secret := range []string{newPassword, b.AccessToken} {
		if strings.Contains(raw, secret) {
			t.Errorf("%q is in the database in clear", secret)
		}
	}
	if !strings.Contains(raw, "sg1:") {
		t.Error("no sealed envelope in the raw database: did the read miss the rows?")
	}
	gotG, err := e.st.GetRegistry(t.Context(), "t1", g.ID)
	if err != nil || gotG.Password != newPassword {
		t.Errorf("GetRegistry password = %q, %v; want the clear password back", gotG.Password, err)
	}
	gotB, err := e.st.GetSandbox(t.Context(), "", b.ID)
	if err != nil || gotB.AccessToken != b.AccessToken {
		t.Errorf("GetSandbox token = %v, want the clear token back", err)
	}
}

func testClearSecretsSealedOnOpen(t *testing.T, e sealEnv) {
	// A store of before sealing wrote these rows in clear.
	old, err := store.Open(t.Context(), e.dsn, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	g := registry("t1", "legacy")
	g.Password = "legacy-password-" + newID()
	b := sandbox("t1", "legacy", base)
	b.AccessToken = "legacy-token-" + newID()
	if err := old.CreateRegistry(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	mustCreateSandbox(t, old, b)
	_ = old.Close()
	if raw := rawContents(t, e); !strings.Contains(raw, g.Password) {
		t.Fatal("the legacy row was not written in clear: the test proves nothing")
	}
	st, err := openSealed(t, e, suiteKey)
	if err != nil {
		t.Fatal(err)
	}
	if raw := rawContents(t, e); strings.Contains(raw, g.Password) || strings.Contains(raw, b.AccessToken) {
		t.Error("a clear secret of before is still in the database after open")
	}
	if got, err := st.GetRegistry(t.Context(), "t1", g.ID); err != nil || got.Password != g.Password {
		t.Errorf("legacy registry password after open: %v", err)
	}
	if got, err := st.GetSandbox(t.Context(), "", b.ID); err != nil || got.AccessToken != b.AccessToken {
		t.Errorf("legacy sandbox token after open: %v", err)
	}
}

func testSecretKeyRotation(t *testing.T, e sealEnv) {
	g := registry("t1", "private")
	mustCreateRegistry(t, e.st, g)
	b := sandbox("t1", "box", base)
	mustCreateSandbox(t, e.st, b)
	newKey := bytes.Repeat([]byte{0x77}, secrets.KeySize)
	st, err := openSealed(t, e, newKey, suiteKey)
	if err != nil {
		t.Fatalf("open with the new key and the old as previous: %v", err)
	}
	raw := rawContents(t, e)
	if strings.Contains(raw, "sg1:"+secrets.KeyID(suiteKey)+":") {
		t.Error("a value sealed with the old key is left after rotation")
	}
	if !strings.Contains(raw, "sg1:"+secrets.KeyID(newKey)+":") {
		t.Error("nothing is sealed with the new key after rotation")
	}
	_ = st.Close()
	// The old key can now be dropped.
	st, err = openSealed(t, e, newKey)
	if err != nil {
		t.Fatalf("open with the new key alone: %v", err)
	}
	if got, err := st.GetRegistry(t.Context(), "t1", g.ID); err != nil || got.Password != g.Password {
		t.Errorf("password after rotation: %v", err)
	}
	if got, err := st.GetSandbox(t.Context(), "", b.ID); err != nil || got.AccessToken != b.AccessToken {
		t.Errorf("token after rotation: %v", err)
	}
}

func testWrongSecretKey(t *testing.T, e sealEnv) {
	mustCreateRegistry(t, e.st, registry("t1", "private"))
	wrong := bytes.Repeat([]byte{0x01}, secrets.KeySize)
	_, err := openSealed(t, e, wrong)
	if !errors.Is(err, secrets.ErrUnknownKey) || !strings.Contains(err.Error(), secrets.KeyID(suiteKey)) {
		t.Errorf("open with the wrong key = %v, want ErrUnknownKey naming the key id the rows need (%s)", err, secrets.KeyID(suiteKey))
	}
}

// --- fixtures of the store's own tests ---

// base is a time with nanoseconds, which the store cuts to micros.
var base = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 3600))

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func registry(tenant, name string) *core.Registry {
	return &core.Registry{
		ID: newID(), TenantID: tenant, Name: name, URL: "registry.example.com:5000/team",
		Username: "user", Password: "s3cret", AuthType: "DOCKER_CONFIG", CreatedBy: "key-" + tenant,
		CreatedAt: base, UpdatedAt: base.Add(time.Second),
	}
}

func mustCreateRegistry(t *testing.T, st *store.Store, g *core.Registry) {
	t.Helper()
	if err := st.CreateRegistry(t.Context(), g); err != nil {
		t.Fatalf("CreateRegistry(%s/%s): %v", g.TenantID, g.Name, err)
	}
}

func sandbox(tenant, name string, created time.Time) *core.Sandbox {
	return &core.Sandbox{
		ID: "i" + newID()[:20], TenantID: tenant, Name: name,
		SnapshotID: "snap-1", TemplateRef: "base", State: core.SandboxRunning,
		VCPUs: 2, MemoryBytes: 512 << 20, DiskBytes: 1 << 30,
		Env: map[string]string{"PATH": "/bin"}, Metadata: map[string]string{"team": "a"},
		OnTimeout: core.TimeoutKill, Deadline: created.Add(5 * time.Minute),
		AccessToken: newID(), Node: "node-a",
		StartedAt: created.Add(time.Second), CreatedAt: created, UpdatedAt: created,
	}
}

func mustCreateSandbox(t *testing.T, st *store.Store, b *core.Sandbox) {
	t.Helper()
	if err := st.CreateSandbox(t.Context(), b); err != nil {
		t.Fatalf("CreateSandbox(%s/%q): %v", b.TenantID, b.Name, err)
	}
}
