package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/secrets"
	"github.com/snapgate/snapgate/store"
)

// The conformance suite: every case runs against SQLite and against a real
// PostgreSQL, each case on a database of its own, in parallel.

const defaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// env is what a case gets: a migrated, empty store and a way to open more
// stores on the same database.
type env struct {
	st      *store.Store
	open    func(t *testing.T) *store.Store
	backend string // "sqlite" or "postgres"
	dsn     string // the case's database, for raw access
}

type storeCase struct {
	name string
	run  func(t *testing.T, e env)
}

// backend returns the DSN of a fresh, empty database for one case.
type backend struct {
	name  string
	fresh func(t *testing.T) string
}

func allCases() []storeCase {
	var cs []storeCase
	cs = append(cs, snapshotCases()...)
	cs = append(cs, claimCases()...)
	cs = append(cs, registryCases()...)
	cs = append(cs, apiKeyCases()...)
	cs = append(cs, concurrencyCases()...)
	cs = append(cs, tagCases()...)
	cs = append(cs, sandboxCases()...)
	cs = append(cs, registryRefCases()...)
	cs = append(cs, quotaCases()...)
	cs = append(cs, nodeCases()...)
	cs = append(cs, sealCases()...)
	return cs
}

func TestStore(t *testing.T) {
	backends := []backend{
		{name: "sqlite", fresh: freshSQLite},
		{name: "postgres", fresh: freshPostgres},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range allCases() {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					dsn := b.fresh(t)
					open := func(t *testing.T) *store.Store { return openStore(t, dsn) }
					c.run(t, env{st: open(t), open: open, backend: b.name, dsn: dsn})
				})
			}
		})
	}
}

// suiteKey seals the secrets of every case's store, so every round trip
// also goes through sealing.
var suiteKey = bytes.Repeat([]byte{0x5e}, secrets.KeySize)

func openStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	ring, err := secrets.New(suiteKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(t.Context(), store.Options{DSN: dsn, Logger: testLogger(t), Sealer: ring})
	if err != nil {
		t.Fatalf("Open(%q): %v", dsn, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func freshSQLite(t *testing.T) string {
	return filepath.Join(t.TempDir(), "snapgate.db")
}

// postgresDSN is the server the suite uses, overridable for other setups.
func postgresDSN() string {
	if dsn := os.Getenv("SNAPGATE_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return defaultPostgresDSN
}

// pgAdmin is one connection pool for creating and dropping test schemas.
var pgAdmin = sync.OnceValues(func() (*gorm.DB, error) {
	db, err := gorm.Open(postgres.Open(postgresDSN()), &gorm.Config{Logger: logger.Discard, DisableAutomaticPing: true})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return nil, err
	}
	return db, nil
})

// freshPostgres creates a schema of its own for the calling test, so
// parallel tests and parallel runs never see each other's rows.
func freshPostgres(t *testing.T) string {
	t.Helper()
	admin, err := pgAdmin()
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("SNAPGATE_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("postgres is required (CI or SNAPGATE_REQUIRE_POSTGRES=1) but unreachable: %v", err)
		}
		t.Skipf("postgres unreachable, skipping (set SNAPGATE_TEST_POSTGRES_DSN): %v", err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "sg_test_" + hex.EncodeToString(b)
	if err := admin.WithContext(t.Context()).Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		// t.Context is done by now; the drop needs a live one.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin.WithContext(ctx).Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	dsn := postgresDSN()
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

// --- fixtures and assertions shared by the cases ---

// base is a time with nanoseconds, which the store must cut to micros.
var base = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 3600))

// micro is the stored form of t.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func snapshot(tenant, name string, created time.Time) *core.Snapshot {
	id := newID()
	return &core.Snapshot{
		ID: id, TenantID: tenant, Name: name, Status: core.SnapshotBuilding,
		DockerImage: "docker.io/library/busybox:latest", ImageRef: core.ImageRefFor(id),
		FSCapacityBytes: 1 << 30, CreatedBy: "key-" + tenant,
		CreatedAt: created, UpdatedAt: created,
	}
}

func mustCreateSnapshot(t *testing.T, st *store.Store, s *core.Snapshot) {
	t.Helper()
	if err := st.CreateSnapshot(t.Context(), s); err != nil {
		t.Fatalf("CreateSnapshot(%s/%s): %v", s.TenantID, s.Name, err)
	}
}

// stored is s as the store returns it: times in UTC at microsecond precision.
func stored(s *core.Snapshot) *core.Snapshot {
	c := *s
	c.CreatedAt, c.UpdatedAt = micro(s.CreatedAt), micro(s.UpdatedAt)
	if !s.ClaimExpires.IsZero() {
		c.ClaimExpires = micro(s.ClaimExpires)
	}
	return &c
}

func wantErr(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: err = %v, want %v", what, err, kind)
	}
	if got := core.KindOf(err); got != kind {
		t.Fatalf("%s: KindOf(err) = %v, want exactly %v", what, got, kind)
	}
}

// checkUTC fails unless every time is in UTC, so callers never see a
// driver's local zone (cmp compares times with Equal, which ignores zones).
func checkUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for _, tm := range times {
		if tm.Location() != time.UTC {
			t.Errorf("%s: time %v is in %v, want UTC", what, tm, tm.Location())
		}
	}
}

func names(snaps []*core.Snapshot) []string {
	out := make([]string, len(snaps))
	for i, s := range snaps {
		out[i] = s.Name
	}
	return out
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}
