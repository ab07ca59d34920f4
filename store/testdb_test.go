package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Databases for tests: every test gets one of its own, so tests run in
// parallel. Exported names here are for the package's external tests.

const defaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// TestBackend is a kind of database the tests run on.
type TestBackend struct {
	Name  string                    // "sqlite" or "postgres"
	Fresh func(t *testing.T) string // the DSN of a new, empty database
}

// TestBackends are SQLite, always, and Postgres when a server answers (see
// FreshPostgres).
var TestBackends = []TestBackend{
	{Name: "sqlite", Fresh: FreshSQLite},
	{Name: "postgres", Fresh: FreshPostgres},
}

// FreshSQLite is the path of a database file that does not exist yet.
func FreshSQLite(t *testing.T) string {
	return filepath.Join(t.TempDir(), "snapgate.db")
}

// postgresDSN is the server tests use, overridable for other setups.
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

// FreshPostgres creates a schema of its own for the calling test, so
// parallel tests and parallel runs never see each other's rows. Without a
// server it skips the test, or fails it under CI or
// SNAPGATE_REQUIRE_POSTGRES=1.
func FreshPostgres(t *testing.T) string {
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

// RawDB opens a test database without the store, for schema surgery and
// for reading what the store wrote.
func RawDB(t *testing.T, backend, dsn string) *gorm.DB {
	t.Helper()
	var d gorm.Dialector = sqlite.Open(dsn)
	if backend == "postgres" {
		d = postgres.Open(dsn)
	}
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("open raw %s: %v", backend, err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return db
}
