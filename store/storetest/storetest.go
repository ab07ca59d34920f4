// Package storetest is the conformance suite of core.Store: every
// implementation (the gorm store on SQLite and on Postgres, and any fake)
// runs it and so behaves the same to core. It imports core, testing and
// go-cmp only; it knows no database.
//
// The suite pins what core relies on beyond the method signatures: the
// error kinds each method returns and their client-safe messages, tenant
// isolation, compare-and-set transitions and claims, live-name and tag
// uniqueness, ordering and paging, times read back in UTC at microsecond
// precision, and the outcome of concurrent calls from one handle and from
// several handles on the same data (several processes).
package storetest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/core"
)

// Opener opens a handle on one database: every call returns another
// handle on the same rows, as another process would have. The handle is
// released by t's cleanup. A store that is closable (io.Closer) is closed
// by the cases that test reopening.
type Opener func(t *testing.T) core.Store

// Run runs every case as a parallel subtest of t. fresh is called once per
// case and returns an Opener on an empty database of that case's own.
func Run(t *testing.T, fresh func(t *testing.T) Opener) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			open := fresh(t)
			c.run(t, env{st: open(t), open: open})
		})
	}
}

// env is what a case gets: a store on an empty database and a way to open
// more handles on it.
type env struct {
	st   core.Store
	open Opener
}

type storeCase struct {
	name string
	run  func(t *testing.T, e env)
}

func cases() []storeCase {
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
	cs = append(cs, serviceGrantCases()...)
	return cs
}

// closer is the optional Close of a handle.
func closer(st core.Store) (io.Closer, bool) {
	c, ok := st.(io.Closer)
	return c, ok
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

func mustCreateSnapshot(t *testing.T, st core.Store, s *core.Snapshot) {
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
