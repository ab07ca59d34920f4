// Package store is the gorm implementation of core.Store, on PostgreSQL or
// SQLite. It imports core and gorm (with its two drivers) only.
//
// Errors are translated here, once: gorm's ErrRecordNotFound becomes
// core.ErrNotFound, ErrDuplicatedKey (TranslateError is on) becomes
// core.ErrAlreadyExists, a status compare-and-set that matches no row
// becomes a core.TransitionError; everything else is wrapped with the
// operation and identifiers and stays internal.
//
// The schema is versioned SQL, one set of files per database, applied at
// New (migrate.go); gorm only queries.
//
// Times are written in UTC truncated to microseconds, the precision of a
// Postgres timestamp, so both databases return what they were given.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/snapgate/snapgate/core"
)

// Store keeps snapgate's rows in a SQL database. It is safe for concurrent use.
type Store struct {
	db       *gorm.DB
	postgres bool // else SQLite
	sealer   core.Sealer
}

// Options configure New.
type Options struct {
	// DSN selects the database: postgres:// or postgresql:// for
	// PostgreSQL; anything else is the path (or file: URI) of a SQLite
	// database, created if missing, with mode 0600.
	DSN    string
	Logger *slog.Logger
	// Sealer encrypts registry passwords and sandbox access tokens as rows
	// are written and opens them as they are read. Sealing lives here, at
	// the row boundary, because those are the only places the columns are
	// converted: core and the adapters keep working with clear values and
	// cannot forget to seal on one of their many read paths. nil stores
	// them in clear (tests and tools only).
	Sealer core.Sealer
}

var _ core.Store = (*Store)(nil)

// slowQuery is how long a statement may take before it is logged.
const slowQuery = 500 * time.Millisecond

// sqlitePragmas make a SQLite file safe to share: WAL lets readers run
// beside the writer, busy_timeout waits for another process's write lock
// instead of failing with SQLITE_BUSY, and immediate transactions take the
// write lock up front so two writers never deadlock upgrading a read lock.
// secure_delete=fast zeroes the old bytes of a rewritten row in pages that
// are written anyway, so a secret re-sealed from clear text does not stay
// readable in the file's free space.
const sqlitePragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=secure_delete(fast)&_txlock=immediate"

// Open is New without a Sealer: secrets are stored in clear. For tests and
// tools; the server uses New.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	return New(ctx, Options{DSN: dsn, Logger: log})
}

// New connects to the database, migrates the schema and re-seals secrets
// that are in clear or sealed with a previous key. It fails when a stored
// secret cannot be opened with the configured keys: a server with the
// wrong key would otherwise start and fail on every pull and envd call.
func New(ctx context.Context, opt Options) (*Store, error) {
	dsn, log := opt.DSN, opt.Logger
	if dsn == "" {
		return nil, errors.New("open store: empty dsn")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	isPostgres := strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
	var dialector gorm.Dialector
	if isPostgres {
		dialector = postgres.Open(withConnectTimeout(dsn))
	} else {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		if err := privateSQLiteFiles(dsn); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		dialector = sqlite.Open(dsn + sep + sqlitePragmas)
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true, // every write is one statement
		DisableAutomaticPing:   true, // gorm's ping ignores ctx; we ping below
		Logger: quietLogger{logger.NewSlogLogger(log, logger.Config{
			SlowThreshold: slowQuery,
			LogLevel:      logger.Warn,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("open store (%s): %w", dialector.Name(), err)
	}
	if err := registerUnavailable(db); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{db: db, postgres: isPostgres, sealer: opt.Sealer}
	if s.sealer == nil {
		s.sealer = clearText{}
	}
	if !isPostgres {
		sqlDB, err := db.DB()
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		// One connection serializes this process's writes, so they never
		// meet SQLITE_BUSY among themselves.
		sqlDB.SetMaxOpenConns(1)
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open store (%s): %w", dialector.Name(), err)
	}
	if err := s.migrateSchema(ctx, log); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.reseal(ctx, log); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the database connections.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	if err := sqlDB.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Ping runs a trivial query, so it proves the database answers statements.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.WithContext(ctx).Raw("SELECT 1").Scan(&one).Error; err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}

// dbError translates a gorm error for the row described by what (e.g.
// `snapshot "abc"`); the message is client-safe, the cause is kept for logs.
func dbError(err error, op, what string) error {
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return core.WithCause(core.ErrNotFound, err, "%s not found", what)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return core.WithCause(core.ErrAlreadyExists, err, "%s already exists", what)
	}
	return fmt.Errorf("%s %s: %w", op, what, err)
}

// inTenant limits a query to tenantID's rows; empty means every tenant.
func inTenant(tenantID string) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		if tenantID == "" {
			return db
		}
		return db.Where("tenant_id = ?", tenantID)
	}
}

// nameContains keeps rows whose name contains sub, ignoring case. LIKE's
// wildcards in sub are escaped so "a_b" matches only a literal underscore.
func nameContains(sub string) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		if sub == "" {
			return db
		}
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(sub)
		return db.Where(`LOWER(name) LIKE LOWER(?) ESCAPE '\'`, "%"+esc+"%")
	}
}

// page applies limit (0 means none) and offset.
func page(limit, offset int) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		if limit > 0 {
			db = db.Limit(limit)
		}
		if offset > 0 {
			db = db.Offset(offset)
		}
		return db
	}
}

// dbTime is the stored form of t: UTC, microsecond precision.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// quietLogger passes gorm's slow-query warnings to slog but not failed
// statements: those are returned to the caller, which logs an error once
// where it is handled (a duplicate name is not worth a log line).
type quietLogger struct{ logger.Interface }

// ParamsFilter keeps statement parameters out of logs: they include
// registry passwords. gorm looks for this method on the logger itself, so
// the wrapped logger's setting alone would not apply.
func (quietLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

func (l quietLogger) LogMode(level logger.LogLevel) logger.Interface {
	return quietLogger{l.Interface.LogMode(level)}
}

func (l quietLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), _ error) {
	l.Interface.Trace(ctx, begin, fc, nil)
}
