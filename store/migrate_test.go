package store

import (
	"errors"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gorm.io/gorm"

	"github.com/snapgate/snapgate/core"
)

type appliedMigration struct {
	Version int
	Name    string
}

func appliedMigrations(t *testing.T, db *gorm.DB) []appliedMigration {
	t.Helper()
	var got []appliedMigration
	scan(t, db, &got, `SELECT version, name FROM schema_migrations ORDER BY version`)
	return got
}

// allApplied is schema_migrations after every embedded migration.
func allApplied(t *testing.T, d dialect) []appliedMigration {
	t.Helper()
	ms, err := loadMigrations(migrationFiles, d.dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []appliedMigration
	for _, m := range ms {
		out = append(out, appliedMigration{m.version, m.name})
	}
	return out
}

func dialectOf(backend string) dialect {
	if backend == "postgres" {
		return postgresDialect
	}
	return sqliteDialect
}

func openTestStore(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// forBackends runs test on each backend with a fresh database.
func forBackends(t *testing.T, test func(t *testing.T, backend, dsn string)) {
	for _, b := range TestBackends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			test(t, b.Name, b.Fresh(t))
		})
	}
}

// The first migration makes exactly the schema the last AutoMigrate
// version made: the same tables, columns in the same order with the same
// types, nullability and defaults, the same indexes and constraints.
func TestMigrationsMakeTheAutoMigrateSchema(t *testing.T) {
	t.Parallel()
	for _, b := range TestBackends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			d := dialectOf(b.Name)
			ms, err := loadMigrations(migrationFiles, d.dir)
			if err != nil {
				t.Fatal(err)
			}
			db := RawDB(t, b.Name, b.Fresh(t))
			sqlDB, err := db.DB()
			if err != nil {
				t.Fatal(err)
			}
			if err := migrate(t.Context(), sqlDB, d, ms[:1], slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			old := RawDB(t, b.Name, b.Fresh(t))
			makeAutoMigrated(t, old, autoMigrateLayout{"last", []autoMigrateVersion{amb1dfaaa}})
			if diff := cmp.Diff(dumpSchema(t, b.Name, old), dumpSchema(t, b.Name, db)); diff != "" {
				t.Errorf("schema (-AutoMigrate +migration 1):\n%s", diff)
			}
			if got, want := appliedMigrations(t, db), allApplied(t, d)[:1]; !cmp.Equal(got, want) {
				t.Errorf("schema_migrations = %v, want %v", got, want)
			}
		})
	}
}

// v1Tables (what adoption checks) is what migration 1 makes.
func TestV1TablesAreMigrationOne(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend, dsn string) {
		d := dialectOf(backend)
		ms, err := loadMigrations(migrationFiles, d.dir)
		if err != nil {
			t.Fatal(err)
		}
		db := RawDB(t, backend, dsn)
		sqlDB, err := db.DB()
		if err != nil {
			t.Fatal(err)
		}
		if err := migrate(t.Context(), sqlDB, d, ms[:1], slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for table, ts := range dumpSchema(t, backend, db) {
			for _, c := range ts.Columns {
				got[table] = append(got[table], c.Name)
			}
		}
		want := map[string][]string{}
		for _, v := range v1Tables {
			want[v.name] = v.columns
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("tables of version 1 (-v1Tables +migration 1):\n%s", d)
		}
	})
}

// Every database an AutoMigrate version of snapgate made opens with its
// rows intact and ends with the schema and schema_migrations of a new
// database.
func TestMigrateAdoptsAutoMigratedDatabases(t *testing.T) {
	t.Parallel()
	for _, b := range TestBackends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fresh := b.Fresh(t)
			openTestStore(t, fresh).Close()
			want := dumpSchema(t, b.Name, RawDB(t, b.Name, fresh))
			for _, l := range autoMigrateLayouts {
				t.Run(l.name, func(t *testing.T) {
					t.Parallel()
					dsn := b.Fresh(t)
					db := RawDB(t, b.Name, dsn)
					makeAutoMigrated(t, db, l)
					rows := insertLegacyRows(t, db)

					s := openTestStore(t, dsn)
					rows.check(t, s)
					// Columns added to an existing table come last, as they
					// did under AutoMigrate; their order does not matter.
					byName := cmpopts.SortSlices(func(a, b columnSchema) bool { return a.Name < b.Name })
					if d := cmp.Diff(want, dumpSchema(t, b.Name, db), byName); d != "" {
						t.Errorf("schema after adoption (-new database +adopted):\n%s", d)
					}
					if got, want := appliedMigrations(t, db), allApplied(t, dialectOf(b.Name)); !cmp.Equal(got, want) {
						t.Errorf("schema_migrations = %v, want %v", got, want)
					}
					checkTagsWork(t, s)

					// The next start finds nothing to do.
					s.Close()
					again := openTestStore(t, dsn)
					rows.check(t, again)
					if got, want := appliedMigrations(t, db), allApplied(t, dialectOf(b.Name)); !cmp.Equal(got, want) {
						t.Errorf("schema_migrations after a second start = %v, want %v", got, want)
					}
				})
			}
		})
	}
}

// checkTagsWork proves the tag-less name index is gone and the tagged one
// is there: a name gets tagged and untagged builds, a taken tag is refused.
func checkTagsWork(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	at := legacyTime.Add(time.Hour)
	for i, id := range []string{"new-1", "new-2"} {
		snap := &core.Snapshot{ID: id, TenantID: "t1", Name: "app", Tag: "latest", Status: core.SnapshotBuilding,
			CreatedAt: at.Add(time.Duration(i) * time.Second), UpdatedAt: at}
		if err := s.CreateSnapshotRetag(ctx, snap); err != nil {
			t.Fatalf("CreateSnapshotRetag(%s) after adoption: %v", id, err)
		}
	}
	dup := &core.Snapshot{ID: "new-3", TenantID: "t1", Name: "app", Tag: "latest", CreatedAt: at, UpdatedAt: at}
	if err := s.CreateSnapshot(ctx, dup); !errors.Is(err, core.ErrAlreadyExists) {
		t.Errorf("CreateSnapshot of a taken tag after adoption: %v, want ErrAlreadyExists", err)
	}
	got, err := s.GetSnapshotByName(ctx, "t1", "app", "latest")
	if err != nil || got.ID != "new-2" {
		t.Errorf("app:latest after adoption = %v, %v; want new-2", got, err)
	}
}

// Two processes starting at once on one database both start, and the
// migrations are applied once.
func TestConcurrentStartsMigrateOnce(t *testing.T) {
	t.Parallel()
	layouts := []autoMigrateLayout{{name: "new database"}, {"made before tags", []autoMigrateVersion{am74913f7}}}
	for _, b := range TestBackends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			for _, l := range layouts {
				t.Run(l.name, func(t *testing.T) {
					t.Parallel()
					dsn := b.Fresh(t)
					db := RawDB(t, b.Name, dsn)
					makeAutoMigrated(t, db, l)
					rows := insertLegacyRows(t, db)
					const n = 4
					stores := make([]*Store, n)
					errs := make([]error, n)
					var wg sync.WaitGroup
					start := make(chan struct{})
					for i := range n {
						wg.Go(func() {
							<-start
							stores[i], errs[i] = Open(t.Context(), dsn, slog.New(slog.DiscardHandler))
						})
					}
					close(start)
					wg.Wait()
					for i, err := range errs {
						if err != nil {
							t.Errorf("start %d: %v", i, err)
							continue
						}
						t.Cleanup(func() { _ = stores[i].Close() })
						rows.check(t, stores[i])
					}
					if got, want := appliedMigrations(t, db), allApplied(t, dialectOf(b.Name)); !cmp.Equal(got, want) {
						t.Errorf("schema_migrations = %v, want %v", got, want)
					}
				})
			}
		})
	}
}

// A migration that fails leaves the database as it was before it: its
// earlier statements are undone and it is not recorded. The next start,
// with the migration fixed, applies it.
func TestFailedMigrationChangesNothing(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend, dsn string) {
		d := dialectOf(backend)
		embedded, err := fs.Sub(migrationFiles, d.dir)
		if err != nil {
			t.Fatal(err)
		}
		first, err := fs.ReadFile(embedded, "0001_initial.sql")
		if err != nil {
			t.Fatal(err)
		}
		set := func(second string) []migration {
			t.Helper()
			ms, err := loadMigrations(fstest.MapFS{
				"m/0001_initial.sql": {Data: first},
				"m/0002_more.sql":    {Data: []byte(second)},
			}, "m")
			if err != nil {
				t.Fatal(err)
			}
			return ms
		}
		db := RawDB(t, backend, dsn)
		sqlDB, err := db.DB()
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.DiscardHandler)
		broken := set(`CREATE TABLE extra (id text);
ALTER TABLE snapshots ADD COLUMN extra text;
INSERT INTO api_keys (id) VALUES ('k');
INSERT INTO no_such_table VALUES (1);`)
		err = migrate(t.Context(), sqlDB, d, broken, log)
		if err == nil || !strings.Contains(err.Error(), "0002_more.sql") {
			t.Fatalf("migrate with a broken 0002 = %v, want an error naming it", err)
		}
		if got, want := appliedMigrations(t, db), []appliedMigration{{1, "0001_initial.sql"}}; !cmp.Equal(got, want) {
			t.Errorf("schema_migrations after the failure = %v, want %v", got, want)
		}
		if db.Migrator().HasTable("extra") || db.Migrator().HasColumn("snapshots", "extra") {
			t.Errorf("the failed migration's table or column is left")
		}
		var keys int64
		if err := db.Table("api_keys").Count(&keys).Error; err != nil || keys != 0 {
			t.Errorf("api_keys after the failure: %d rows, %v; want none", keys, err)
		}

		fixed := set(`CREATE TABLE extra (id text);
ALTER TABLE snapshots ADD COLUMN extra text;`)
		if err := migrate(t.Context(), sqlDB, d, fixed, log); err != nil {
			t.Fatalf("migrate with 0002 fixed: %v", err)
		}
		if got, want := appliedMigrations(t, db), []appliedMigration{{1, "0001_initial.sql"}, {2, "0002_more.sql"}}; !cmp.Equal(got, want) {
			t.Errorf("schema_migrations after the fix = %v, want %v", got, want)
		}
		if !db.Migrator().HasTable("extra") || !db.Migrator().HasColumn("snapshots", "extra") {
			t.Errorf("the fixed migration did not apply")
		}
	})
}

// A database migrated by a newer snapgate is refused, not written to.
func TestNewerSchemaIsRefused(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend, dsn string) {
		openTestStore(t, dsn).Close()
		db := RawDB(t, backend, dsn)
		if err := db.Exec(`INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')`).Error; err != nil {
			t.Fatal(err)
		}
		s, err := Open(t.Context(), dsn, nil)
		if err == nil {
			s.Close()
			t.Fatal("Open of a database at a newer schema version succeeded")
		}
		if !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), "newer") {
			t.Errorf("Open = %v, want it to name the newer version", err)
		}
	})
}

// A database with a table of snapgate's names but other columns is not
// taken for an old snapgate database, and is left untouched.
func TestUnknownSchemaIsRefused(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend, dsn string) {
		db := RawDB(t, backend, dsn)
		if err := db.Exec(`CREATE TABLE snapshots (id text, other text)`).Error; err != nil {
			t.Fatal(err)
		}
		s, err := Open(t.Context(), dsn, nil)
		if err == nil {
			s.Close()
			t.Fatal("Open of a foreign snapshots table succeeded")
		}
		if !errors.Is(err, errUnknownSchema) {
			t.Errorf("Open = %v, want errUnknownSchema", err)
		}
		if db.Migrator().HasTable("schema_migrations") || db.Migrator().HasTable("sandboxes") {
			t.Errorf("the refused open changed the database")
		}
	})
}

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	file := &fstest.MapFile{Data: []byte("SELECT 1;")}
	tests := []struct {
		name    string
		files   fstest.MapFS
		wantErr string
	}{
		{"in order", fstest.MapFS{"m/0001_a.sql": file, "m/0002_b.sql": file}, ""},
		{"gap", fstest.MapFS{"m/0001_a.sql": file, "m/0003_c.sql": file}, "version 3, want 2"},
		{"repeat", fstest.MapFS{"m/0001_a.sql": file, "m/0001_b.sql": file}, "version 1, want 2"},
		{"not from one", fstest.MapFS{"m/0002_b.sql": file}, "version 2, want 1"},
		{"bad name", fstest.MapFS{"m/0001_a.sql": file, "m/2_b.sql": file}, "NNNN_name.sql"},
		{"stray file", fstest.MapFS{"m/0001_a.sql": file, "m/README": file}, "NNNN_name.sql"},
		{"empty", fstest.MapFS{"m/.keep": file}, "NNNN_name.sql"},
		{"missing", fstest.MapFS{}, "read migrations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadMigrations(tt.files, "m")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("loadMigrations: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("loadMigrations = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// Both databases have the same migrations, so a version means the same
// change on either.
func TestDialectsHaveTheSameMigrations(t *testing.T) {
	t.Parallel()
	names := func(d dialect) []string {
		ms, err := loadMigrations(migrationFiles, d.dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.name)
		}
		return out
	}
	if pg, lite := names(postgresDialect), names(sqliteDialect); !cmp.Equal(pg, lite) {
		t.Errorf("postgres migrations %v, sqlite migrations %v", pg, lite)
	}
}

// The row types gorm queries with name exactly the columns the migrations
// make, so a migration and a row type cannot drift apart unnoticed.
func TestRowsMatchTables(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend, dsn string) {
		s := openTestStore(t, dsn)
		tables := dumpSchema(t, backend, s.db)
		for _, row := range []any{&snapshotRow{}, &apiKeyRow{}, &registryRow{}, &sandboxRow{}, &nodeRow{}, &serviceGrantRow{}} {
			stmt := &gorm.Statement{DB: s.db}
			if err := stmt.Parse(row); err != nil {
				t.Fatal(err)
			}
			var cols []string
			for _, c := range tables[stmt.Schema.Table].Columns {
				cols = append(cols, c.Name)
			}
			if d := cmp.Diff(stmt.Schema.DBNames, cols); d != "" {
				t.Errorf("%T columns (-row type +table %s):\n%s", row, stmt.Schema.Table, d)
			}
		}
	})
}
