package store_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/secrets"
	"github.com/snapgate/snapgate/store"
)

// The conformance suite: every case runs against SQLite and against a real
// PostgreSQL, each case on a database of its own, in parallel.

// env is what a case gets: a migrated, empty store and a way to open more
// stores on the same database.
type env struct {
	st      *store.Store
	open    func(t *testing.T) *store.Store
	backend string // "sqlite" or "postgres"
	dsn     string // the case's database, for raw access
}

type storeCase struct {
	name string
	run  func(t *testing.T, e env)
}

func allCases() []storeCase {
	var cs []storeCase
	cs = append(cs, snapshotCases()...)
	cs = append(cs, claimCases()...)
	cs = append(cs, registryCases()...)
	cs = append(cs, apiKeyCases()...)
	cs = append(cs, concurrencyCases()...)
	cs = append(cs, tagCases()...)
	cs = append(cs, sandboxCases()...)
	cs = append(cs, registryRefCases()...)
	cs = append(cs, quotaCases()...)
	cs = append(cs, nodeCases()...)
	cs = append(cs, sealCases()...)
	return cs
}

func TestStore(t *testing.T) {
	for _, b := range store.TestBackends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			for _, c := range allCases() {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					dsn := b.Fresh(t)
					open := func(t *testing.T) *store.Store { return openStore(t, dsn) }
					c.run(t, env{st: open(t), open: open, backend: b.Name, dsn: dsn})
				})
			}
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

// --- fixtures and assertions shared by the cases ---

// base is a time with nanoseconds, which the store must cut to micros.
var base = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 3600))

// micro is the stored form of t.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func snapshot(tenant, name string, created time.Time) *core.Snapshot {
	id := newID()
	return &core.Snapshot{
		ID: id, TenantID: tenant, Name: name, Status: core.SnapshotBuilding,
		DockerImage: "docker.io/library/busybox:latest", ImageRef: core.ImageRefFor(id),
		FSCapacityBytes: 1 << 30, CreatedBy: "key-" + tenant,
		CreatedAt: created, UpdatedAt: created,
	}
}

func mustCreateSnapshot(t *testing.T, st *store.Store, s *core.Snapshot) {
	t.Helper()
	if err := st.CreateSnapshot(t.Context(), s); err != nil {
		t.Fatalf("CreateSnapshot(%s/%s): %v", s.TenantID, s.Name, err)
	}
}

// stored is s as the store returns it: times in UTC at microsecond precision.
func stored(s *core.Snapshot) *core.Snapshot {
	c := *s
	c.CreatedAt, c.UpdatedAt = micro(s.CreatedAt), micro(s.UpdatedAt)
	if !s.ClaimExpires.IsZero() {
		c.ClaimExpires = micro(s.ClaimExpires)
	}
	return &c
}

func wantErr(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: err = %v, want %v", what, err, kind)
	}
	if got := core.KindOf(err); got != kind {
		t.Fatalf("%s: KindOf(err) = %v, want exactly %v", what, got, kind)
	}
}

// checkUTC fails unless every time is in UTC, so callers never see a
// driver's local zone (cmp compares times with Equal, which ignores zones).
func checkUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for _, tm := range times {
		if tm.Location() != time.UTC {
			t.Errorf("%s: time %v is in %v, want UTC", what, tm, tm.Location())
		}
	}
}

func names(snaps []*core.Snapshot) []string {
	out := make([]string, len(snaps))
	for i, s := range snaps {
		out[i] = s.Name
	}
	return out
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}
