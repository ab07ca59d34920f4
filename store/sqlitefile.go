package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// sqlitePath is the file a SQLite dsn names, "" for an in-memory database.
func sqlitePath(dsn string) string {
	path := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		if strings.Contains(path[i:], "mode=memory") {
			return ""
		}
		path = path[:i]
	}
	if path == "" || path == ":memory:" {
		return ""
	}
	return path
}

// privateSQLiteFiles creates the database file of dsn with mode 0600 before
// SQLite opens it, and makes an existing one (and its -wal and -shm files)
// 0600: it holds API key hashes and sealed secrets, and SQLite would create
// it 0644. SQLite gives the -wal and -shm files it creates later the mode
// of the database file, so they follow.
func privateSQLiteFiles(dsn string) error {
	path := sqlitePath(dsn)
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create database file %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("stat database file %s: %w", p, err)
		}
		if st.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return fmt.Errorf("make database file %s private: %w", p, err)
		}
	}
	return nil
}
