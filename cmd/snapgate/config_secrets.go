package main

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/snapgate/snapgate/core/secrets"
)

// SecretKeys is the key that seals registry passwords and sandbox access
// tokens in the database, and the keys that still open older rows.
type SecretKeys struct {
	// Current seals (SNAPGATE_SECRET_KEY); nil means the key in File.
	Current []byte
	// Previous only open (SNAPGATE_SECRET_KEY_PREVIOUS, comma-separated):
	// rows sealed with them are re-sealed with Current at start.
	Previous [][]byte
	// File holds the key when SNAPGATE_SECRET_KEY is unset
	// (SNAPGATE_SECRET_KEY_FILE, default <data dir>/secret.key); it is
	// generated, mode 0600, when missing.
	File string
}

// String keeps keys out of %v and %+v of a Config.
func (SecretKeys) String() string { return "[secret keys]" }

// LogValue keeps keys out of logs.
func (k SecretKeys) LogValue() slog.Value { return slog.StringValue(k.String()) }

// loadSecretKeys reads the SNAPGATE_SECRET_KEY* variables. Errors name the
// variable, never the value. cluster is true when nodes share a database
// (a snapshot registry is set): they must then share the key, which a key
// file generated per node would not be.
func loadSecretKeys(getenv func(string) string, dataDir string, cluster bool) (SecretKeys, error) {
	var k SecretKeys
	var errs []error
	cur := strings.TrimSpace(getenv("SNAPGATE_SECRET_KEY"))
	file := strings.TrimSpace(getenv("SNAPGATE_SECRET_KEY_FILE"))
	switch {
	case cur != "" && file != "":
		errs = append(errs, errors.New("set SNAPGATE_SECRET_KEY or SNAPGATE_SECRET_KEY_FILE, not both"))
	case cur != "":
		key, err := secrets.ParseKey(cur)
		if err != nil {
			errs = append(errs, fmt.Errorf("SNAPGATE_SECRET_KEY: %w (generate one with: openssl rand -base64 32)", err))
		}
		k.Current = key
	case file != "":
		k.File = file
	case cluster:
		errs = append(errs, errors.New("SNAPGATE_SECRET_KEY (or SNAPGATE_SECRET_KEY_FILE) must be set, to the same key on every node: nodes sharing a database open each other's secrets"))
	default:
		k.File = filepath.Join(dataDir, "secret.key")
	}
	for i, p := range strings.Split(getenv("SNAPGATE_SECRET_KEY_PREVIOUS"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		key, err := secrets.ParseKey(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("SNAPGATE_SECRET_KEY_PREVIOUS key %d: %w", i+1, err))
			continue
		}
		k.Previous = append(k.Previous, key)
	}
	return k, errors.Join(errs...)
}

// keyring builds the sealer from k, reading or generating the key file.
func (k SecretKeys) keyring(logger *slog.Logger) (*secrets.Keyring, error) {
	cur := k.Current
	if cur == nil {
		key, created, err := secrets.LoadOrCreateKeyFile(k.File)
		if err != nil {
			return nil, err
		}
		if created {
			logger.Warn("generated a secret key: back it up with the database, rows sealed with it cannot be opened without it",
				"key_file", k.File)
		}
		cur = key
	}
	ring, err := secrets.New(cur, k.Previous...)
	if err != nil {
		return nil, err
	}
	return ring, nil
}
