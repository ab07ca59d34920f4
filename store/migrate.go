package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"strconv"
)

// The schema is numbered SQL files, one directory per database, embedded
// in the binary: migrations/<dialect>/NNNN_what.sql, versions 1, 2, …
// without gaps. New applies the ones a database lacks, in order, each in a
// transaction of its own that also records it in schema_migrations, so a
// migration that fails leaves the database as it was (both databases have
// transactional DDL; a statement that cannot run in a transaction, such as
// CREATE INDEX CONCURRENTLY, cannot be a migration). Files are never
// edited once released: a change is a new file, in both directories.
//
// Processes that start together on one database take turns: on Postgres
// each transaction first takes an advisory lock on the schema it migrates;
// SQLite's immediate transactions (sqlitePragmas) hold the write lock from
// BEGIN. Whoever comes second finds the migration recorded and moves on.
//
// gorm stays the query layer; it only no longer creates the schema.

//go:embed migrations
var migrationFiles embed.FS

// migration is one file of a dialect's directory.
type migration struct {
	version int
	name    string // the file name, recorded beside the version
	sql     string
}

// dialect is what migrating differs in between the two databases.
type dialect struct {
	dir string // of migrationFiles
	// lock, if set, serializes the migrations of every process on the
	// database until the transaction ends.
	lock        string
	bookkeeping string // creates schema_migrations if missing
	record      string // inserts a version and name
	hasTable    string // counts tables named $1 in the migrated schema
	columns     string // the column names of table $1
}

var postgresDialect = dialect{
	dir: "migrations/postgres",
	// Keyed by schema: tests and deployments may keep several snapgate
	// schemas in one database, and they need not wait for each other.
	lock: `SELECT pg_advisory_xact_lock(hashtext('snapgate schema_migrations ' || coalesce(current_schema(), '')))`,
	bookkeeping: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version bigint NOT NULL PRIMARY KEY,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`,
	record:   `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`,
	hasTable: `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`,
	columns:  `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`,
}

var sqliteDialect = dialect{
	dir: "migrations/sqlite",
	bookkeeping: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer NOT NULL PRIMARY KEY,
		name text NOT NULL,
		applied_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
	record:   `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`,
	hasTable: `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`,
	columns:  `SELECT name FROM pragma_table_info(?)`,
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

// loadMigrations reads dir of fsys: every file must be named like
// 0001_initial.sql, and the versions must run from 1 without gaps.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			return nil, fmt.Errorf("migration %s/%s: not a file named NNNN_name.sql", dir, e.Name())
		}
		version, _ := strconv.Atoi(m[1])
		if version != len(ms)+1 {
			return nil, fmt.Errorf("migration %s/%s: version %d, want %d (no gaps or repeats)", dir, e.Name(), version, len(ms)+1)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		ms = append(ms, migration{version: version, name: e.Name(), sql: string(b)})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no migrations in %s", dir)
	}
	return ms, nil
}

// migrate brings the schema to the newest version of ms.
func migrate(ctx context.Context, db *sql.DB, d dialect, ms []migration, log *slog.Logger) error {
	for {
		done, err := migrateNext(ctx, db, d, ms, log)
		if err != nil {
			return fmt.Errorf("migrate store schema: %w", err)
		}
		if done {
			return nil
		}
	}
}

// migrateNext applies, in one transaction, the first migration the
// database has not recorded, and reports done when there was none.
func migrateNext(ctx context.Context, db *sql.DB, d dialect, ms []migration, log *slog.Logger) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if d.lock != "" {
		if _, err := tx.ExecContext(ctx, d.lock); err != nil {
			return false, fmt.Errorf("lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.bookkeeping); err != nil {
		return false, fmt.Errorf("create schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, tx)
	if err != nil {
		return false, err
	}
	var next *migration
	for i := range ms {
		if !applied[ms[i].version] {
			next = &ms[i]
			break
		}
	}
	for v := range applied {
		if v > len(ms) {
			return false, fmt.Errorf("the database is at schema version %d, newer than this snapgate knows (%d): run a newer snapgate", v, len(ms))
		}
	}
	if next == nil {
		return true, tx.Commit()
	}
	adopted := false
	if len(applied) == 0 {
		if adopted, err = adoptAutoMigrated(ctx, tx, d); err != nil {
			return false, err
		}
	}
	if _, err := tx.ExecContext(ctx, next.sql); err != nil {
		return false, fmt.Errorf("apply %s: %w", next.name, err)
	}
	if _, err := tx.ExecContext(ctx, d.record, next.version, next.name); err != nil {
		return false, fmt.Errorf("record %s: %w", next.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit %s: %w", next.name, err)
	}
	if adopted {
		log.InfoContext(ctx, "adopted a schema made before versioned migrations", "version", next.version)
	}
	log.InfoContext(ctx, "applied schema migration", "version", next.version, "name", next.name)
	return false, nil
}

func appliedVersions(ctx context.Context, tx *sql.Tx) (map[int]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return applied, nil
}

// migrateSchema runs the embedded migrations of the store's database.
func (s *Store) migrateSchema(ctx context.Context, log *slog.Logger) error {
	d := sqliteDialect
	if s.postgres {
		d = postgresDialect
	}
	ms, err := loadMigrations(migrationFiles, d.dir)
	if err != nil {
		return fmt.Errorf("migrate store schema: %w", err)
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("migrate store schema: %w", err)
	}
	return migrate(ctx, sqlDB, d, ms, log)
}
