package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"

	"gorm.io/gorm"

	"github.com/snapgate/snapgate/core"
)

// defaultConnectTimeout bounds establishing a Postgres connection (seconds,
// pgx's connect_timeout) when the DSN sets none: without it a database
// host that accepts TCP but never answers holds every request until the
// client gives up.
const defaultConnectTimeout = "5"

// withConnectTimeout adds connect_timeout to a Postgres URL that has none.
func withConnectTimeout(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // pgx reports the malformed DSN itself
	}
	q := u.Query()
	if q.Has("connect_timeout") {
		return dsn
	}
	q.Set("connect_timeout", defaultConnectTimeout)
	u.RawQuery = q.Encode()
	return u.String()
}

// unreachable reports whether err means the database could not be reached
// or the connection broke, rather than that a statement failed.
func unreachable(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed),
		errors.As(err, &netErr):
		return true
	}
	// pgx's connect failures and closed-connection errors that wrap no
	// sentinel.
	msg := err.Error()
	return strings.Contains(msg, "failed to connect to") || strings.Contains(msg, "conn closed")
}

// classifyUnavailable is a gorm callback run after every statement: it
// turns a connection failure into core.ErrUnavailable (a 503 in both
// vendors' shapes) instead of an internal error (500). The cause is kept
// for logs.
func classifyUnavailable(db *gorm.DB) {
	if db.Error == nil || !unreachable(db.Error) || errors.Is(db.Error, core.ErrUnavailable) {
		return
	}
	if ctx := db.Statement.Context; ctx != nil && errors.Is(ctx.Err(), context.Canceled) {
		return // the caller gave up: not the database's fault
	}
	db.Error = core.WithCause(core.ErrUnavailable, db.Error, "the database is unavailable: try again later")
}

// registerUnavailable installs classifyUnavailable after every kind of
// statement gorm runs.
func registerUnavailable(db *gorm.DB) error {
	cb := db.Callback()
	for _, err := range []error{
		cb.Create().After("*").Register("snapgate:unavailable", classifyUnavailable),
		cb.Query().After("*").Register("snapgate:unavailable", classifyUnavailable),
		cb.Update().After("*").Register("snapgate:unavailable", classifyUnavailable),
		cb.Delete().After("*").Register("snapgate:unavailable", classifyUnavailable),
		cb.Row().After("*").Register("snapgate:unavailable", classifyUnavailable),
		cb.Raw().After("*").Register("snapgate:unavailable", classifyUnavailable),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
