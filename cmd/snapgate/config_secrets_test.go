package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testSecretKey is a valid SNAPGATE_SECRET_KEY.
var testSecretKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 32))

func TestLoadSecretKeys(t *testing.T) {
	t.Parallel()
	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x43}, 32))
	cases := []struct {
		name      string
		env       map[string]string
		wantFile  string // "" when the key comes from SNAPGATE_SECRET_KEY
		wantPrev  int
		wantErrIn string
	}{
		{"default key file in the data dir", map[string]string{"SNAPGATE_DATA_DIR": "/d"}, "/d/secret.key", 0, ""},
		{"key from the environment", map[string]string{"SNAPGATE_SECRET_KEY": testSecretKey}, "", 0, ""},
		{"key file named", map[string]string{"SNAPGATE_SECRET_KEY_FILE": "/run/secrets/k"}, "/run/secrets/k", 0, ""},
		{"previous keys", map[string]string{"SNAPGATE_SECRET_KEY": other, "SNAPGATE_SECRET_KEY_PREVIOUS": testSecretKey + ", " + other}, "", 2, ""},
		{"both key and file", map[string]string{"SNAPGATE_SECRET_KEY": testSecretKey, "SNAPGATE_SECRET_KEY_FILE": "/k"}, "", 0, "not both"},
		{"short key", map[string]string{"SNAPGATE_SECRET_KEY": "c2hvcnQ="}, "", 0, "SNAPGATE_SECRET_KEY: decodes to 5 bytes"},
		{"bad previous key", map[string]string{"SNAPGATE_SECRET_KEY": testSecretKey, "SNAPGATE_SECRET_KEY_PREVIOUS": "nope!"}, "", 0, "SNAPGATE_SECRET_KEY_PREVIOUS key 1"},
		{"cluster without a shared key", map[string]string{"SNAPGATE_SNAPSHOT_REGISTRY": "reg.example.com/s"}, "", 0, "same key on every node"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadConfig(env(tc.env))
			if tc.wantErrIn != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrIn) {
					t.Fatalf("LoadConfig = %v, want an error with %q", err, tc.wantErrIn)
				}
				for k, v := range tc.env {
					if strings.HasPrefix(k, "SNAPGATE_SECRET_KEY") && len(v) > 3 && strings.Contains(err.Error(), v) {
						t.Errorf("the error repeats the value of %s: %v", k, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Secrets.File != tc.wantFile || (tc.wantFile == "") != (c.Secrets.Current != nil) || len(c.Secrets.Previous) != tc.wantPrev {
				t.Errorf("Secrets = file %q, current set %v, %d previous; want file %q, %d previous",
					c.Secrets.File, c.Secrets.Current != nil, len(c.Secrets.Previous), tc.wantFile, tc.wantPrev)
			}
			if s := fmt.Sprintf("%v %+v", c, c); strings.Contains(s, "66, 66") || strings.Contains(s, "[66 ") {
				t.Errorf("a printed Config shows key bytes: %s", s)
			}
		})
	}
}

// The attack: another local user lists or reads the data dir (left 0755 by
// `mkdir -p`) and copies the database and the key that opens its secrets.
func TestOpenStoreMakesTheDataDirPrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(env(map[string]string{"SNAPGATE_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := openStore(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, f := range []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700}, {filepath.Join(dir, "snapgate.db"), 0o600}, {filepath.Join(dir, "secret.key"), 0o600},
	} {
		st, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != f.want {
			t.Errorf("%s mode = %v, want %v", filepath.Base(f.path), got, f.want)
		}
	}
}
