package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// Databases made before versioned migrations have snapgate's tables but
// no schema_migrations rows. gorm's AutoMigrate made them, and AutoMigrate
// only ever adds: tables, columns and indexes. So whatever version of
// snapgate made such a database, it holds schema version 1 less some whole
// tables, less some indexes, less the columns in addedColumns (the only
// ones added to a table that already existed), plus perhaps the
// tag-less unique name index that snapgate dropped by hand once tags came.
//
// adoptAutoMigrated closes the column gap and drops that index; migration
// 1, written with IF NOT EXISTS, then adds the missing tables and indexes,
// and the caller records version 1, all in one transaction.

// errUnknownSchema is a database with snapgate's table names but columns
// no snapgate made: it is left alone.
var errUnknownSchema = errors.New("the database has tables of the same names that snapgate did not make")

// v1Tables are the tables of schema version 1 and their columns. Frozen:
// later versions change the schema with migrations, not here.
var v1Tables = []struct {
	name    string
	columns []string
}{
	{"snapshots", []string{"id", "tenant_id", "name", "tag", "status", "status_message", "docker_image",
		"registry_id", "image_ref", "image_digest", "registry_ref", "fs_capacity_bytes", "fs_used_bytes",
		"memory_snapshot_size_bytes", "source_sandbox_id", "created_by", "created_at", "updated_at",
		"claim_owner", "claim_expires"}},
	{"api_keys", []string{"id", "tenant_id", "hash", "prefix", "created_at"}},
	{"registries", []string{"id", "tenant_id", "name", "url", "username", "password", "auth_type",
		"created_by", "created_at", "updated_at"}},
	{"sandboxes", []string{"id", "tenant_id", "name", "live_name", "snapshot_id", "template_ref", "state",
		"status_message", "vcpus", "memory_bytes", "disk_bytes", "env", "metadata", "on_timeout", "deadline",
		"access_token", "node", "started_at", "created_at", "updated_at"}},
	{"nodes", []string{"name", "address", "vcpus", "memory_bytes", "heartbeat_at"}},
}

// addedColumns are the columns later versions of snapgate had AutoMigrate
// add to an existing table, with their definition (the same on both
// databases). Both are valid on a table with rows: tag is nullable and
// registry_ref has a default.
var addedColumns = []struct{ table, column, definition string }{
	{"snapshots", "tag", "text"},
	{"snapshots", "registry_ref", "text NOT NULL DEFAULT ''"},
}

// legacySnapshotNameIndex is the unique (tenant_id, name) index of schemas
// before snapshot tags: it would forbid a second build of a name.
// AutoMigrate never drops an index, so the versions with tags dropped it
// by hand; a database that stopped in between may still have it.
const legacySnapshotNameIndex = "idx_snapshots_tenant_name"

// adoptAutoMigrated prepares a database made by AutoMigrate for migration
// 1, and reports whether it found one. An empty database is left alone.
func adoptAutoMigrated(ctx context.Context, tx *sql.Tx, d dialect) (bool, error) {
	found := false
	for _, t := range v1Tables {
		var n int
		if err := tx.QueryRowContext(ctx, d.hasTable, t.name).Scan(&n); err != nil {
			return false, fmt.Errorf("adopt schema: look for table %s: %w", t.name, err)
		}
		if n == 0 {
			continue
		}
		found = true
		if err := addMissingColumns(ctx, tx, d, t.name, t.columns); err != nil {
			return false, fmt.Errorf("adopt schema: %w", err)
		}
	}
	if !found {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, "DROP INDEX IF EXISTS "+legacySnapshotNameIndex); err != nil {
		return false, fmt.Errorf("adopt schema: drop index %s: %w", legacySnapshotNameIndex, err)
	}
	return true, nil
}

// addMissingColumns adds to table those of want that AutoMigrate may not
// have added yet, and fails if it lacks any other.
func addMissingColumns(ctx context.Context, tx *sql.Tx, d dialect, table string, want []string) error {
	have, err := columnNames(ctx, tx, d, table)
	if err != nil {
		return err
	}
	for _, col := range want {
		if slices.Contains(have, col) {
			continue
		}
		i := slices.IndexFunc(addedColumns, func(a struct{ table, column, definition string }) bool {
			return a.table == table && a.column == col
		})
		if i < 0 {
			return fmt.Errorf("table %s has no column %s: %w", table, col, errUnknownSchema)
		}
		// Names and definitions are constants above, never input.
		stmt := fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", table, col, addedColumns[i].definition)
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("add column %s.%s: %w", table, col, err)
		}
	}
	return nil
}

func columnNames(ctx context.Context, tx *sql.Tx, d dialect, table string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, d.columns, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("columns of %s: %w", table, err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	return names, nil
}
