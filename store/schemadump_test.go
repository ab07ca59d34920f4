package store

import (
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"
)

// tableSchema is a table as the database describes it, for comparing
// schemas made in different ways.
type tableSchema struct {
	Columns []columnSchema // in table order
	Indexes []string       // "name unique? (columns)", sorted
}

type columnSchema struct {
	Name, Type, Nullable, Default string
}

// dumpSchema describes every table of the database but schema_migrations.
func dumpSchema(t *testing.T, backend string, db *gorm.DB) map[string]tableSchema {
	t.Helper()
	if backend == "postgres" {
		return dumpPostgres(t, db)
	}
	return dumpSQLite(t, db)
}

func dumpSQLite(t *testing.T, db *gorm.DB) map[string]tableSchema {
	t.Helper()
	var tables []string
	scan(t, db, &tables, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'`)
	out := map[string]tableSchema{}
	for _, table := range tables {
		var cols []struct {
			Name, Type string
			NotNull    int
			Dflt       *string
			PK         int
		}
		scan(t, db, &cols, `SELECT name, type, "notnull" AS not_null, dflt_value AS dflt, pk FROM pragma_table_info(?) ORDER BY cid`, table)
		var ts tableSchema
		for _, c := range cols {
			// AutoMigrate wrote the default '' as "", which SQLite reads as
			// the same string.
			d := strings.ReplaceAll(deref(c.Dflt), `""`, `''`)
			nullable := "YES"
			if c.NotNull == 1 {
				nullable = "NO"
			}
			if c.PK > 0 {
				nullable += " pk"
			}
			ts.Columns = append(ts.Columns, columnSchema{c.Name, strings.ToLower(c.Type), nullable, d})
		}
		var idx []struct {
			Name   string
			Unique int
			Origin string
		}
		scan(t, db, &idx, `SELECT name, "unique", origin FROM pragma_index_list(?)`, table)
		for _, i := range idx {
			var cols []string
			scan(t, db, &cols, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, i.Name)
			u := ""
			if i.Unique == 1 {
				u = "unique "
			}
			ts.Indexes = append(ts.Indexes, i.Name+" "+u+i.Origin+" ("+strings.Join(cols, ", ")+")")
		}
		slices.Sort(ts.Indexes)
		out[table] = ts
	}
	return out
}

func dumpPostgres(t *testing.T, db *gorm.DB) map[string]tableSchema {
	t.Helper()
	var tables []string
	scan(t, db, &tables, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'`)
	out := map[string]tableSchema{}
	for _, table := range tables {
		var ts tableSchema
		scan(t, db, &ts.Columns, `SELECT column_name AS name, data_type AS type, is_nullable AS nullable, coalesce(column_default, '') AS "default"
			FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`, table)
		scan(t, db, &ts.Indexes, `SELECT replace(indexdef, current_schema() || '.', '') FROM pg_indexes
			WHERE schemaname = current_schema() AND tablename = ?`, table)
		var cons []string
		scan(t, db, &cons, `SELECT c.conname || ' ' || pg_get_constraintdef(c.oid) FROM pg_constraint c
			JOIN pg_class r ON r.oid = c.conrelid WHERE r.relname = ? AND r.relnamespace = current_schema()::regnamespace`, table)
		ts.Indexes = append(ts.Indexes, cons...)
		slices.Sort(ts.Indexes)
		out[table] = ts
	}
	return out
}

func scan(t *testing.T, db *gorm.DB, dest any, query string, args ...any) {
	t.Helper()
	if err := db.WithContext(t.Context()).Raw(query, args...).Scan(dest).Error; err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
