package store_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/snapgate/snapgate/store"
)

// The attack: another local user reads the SQLite file (0644 by SQLite's
// default) and with it API key hashes and sealed secrets.
func TestSQLiteFilesArePrivate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		prep func(t *testing.T, path string)
	}{
		{"new file", func(*testing.T, string) {}},
		{"existing file left 0644 by an older version", func(t *testing.T, path string) {
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "snapgate.db")
			tc.prep(t, path)
			st, err := store.Open(t.Context(), path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			// A write, so SQLite has made its -wal and -shm files.
			if err := st.CreateRegistry(t.Context(), registry("t1", "r")); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				st, err := os.Stat(p)
				if err != nil {
					t.Fatalf("stat %s: %v", filepath.Base(p), err)
				}
				if got := st.Mode().Perm(); got != 0o600 {
					t.Errorf("%s mode = %v, want 0600", filepath.Base(p), got)
				}
			}
		})
	}
}
