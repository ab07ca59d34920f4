package secrets

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// ParseKey decodes a key as configured: standard base64 of KeySize bytes
// (what `openssl rand -base64 32` prints), with or without padding, or 64
// hex digits. The error never repeats the value.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, errors.New("not base64 (or 64 hex digits)")
	}
	if len(b) != KeySize {
		return nil, fmt.Errorf("decodes to %d bytes, want %d", len(b), KeySize)
	}
	return b, nil
}

// LoadOrCreateKeyFile returns the key in path, creating the file (mode
// 0600, a fresh random key in base64) when it does not exist. An existing
// file readable by group or others is made 0600 again: the key opens every
// secret in the database. created reports a new key.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKeyFile(path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("read key file %s: %w", path, err)
	}
	if err := tighten(path); err != nil {
		return nil, false, err
	}
	if key, err = ParseKey(string(b)); err != nil {
		return nil, false, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, false, nil
}

func createKeyFile(path string) ([]byte, bool, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("generate secret key: %w", err)
	}
	// O_EXCL: when two processes start at once, one creates and the
	// other reads the winner's key instead of overwriting it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		k, _, err := LoadOrCreateKeyFile(path)
		return k, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("create key file %s: %w", path, err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		_ = os.Remove(path)
		return nil, false, fmt.Errorf("write key file %s: %w", path, err)
	}
	return key, true, nil
}

// tighten makes path 0600 when group or others may read it.
func tighten(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("stat key file %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("make key file %s private: %w", path, err)
	}
	return nil
}
