package store_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/secrets"
	"github.com/snapgate/snapgate/store"
	"github.com/snapgate/snapgate/store/storetest"
)

// TestConformance runs the core.Store suite against SQLite and a real
// PostgreSQL, each case on a database of its own, in parallel.
func TestConformance(t *testing.T) {
	for _, b := range store.TestBackends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T) storetest.Opener {
				dsn := b.Fresh(t)
				return func(t *testing.T) core.Store { return openStore(t, dsn) }
			})
		})
	}
}

// suiteKey seals the secrets of every case's store, so every round trip
// also goes through sealing.
var suiteKey = bytes.Repeat([]byte{0x5e}, secrets.KeySize)

func openStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	ring, err := secrets.New(suiteKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(t.Context(), store.Options{DSN: dsn, Logger: testLogger(t), Sealer: ring})
	if err != nil {
		t.Fatalf("Open(%q): %v", dsn, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
