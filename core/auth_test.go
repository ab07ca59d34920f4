package core_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/store"
)

func TestKeys(t *testing.T) {
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "db.sqlite"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n := 0
	keys := &core.Keys{Store: st, Clock: core.SystemClock{}, IDs: func() string { n++; return time.Now().String() + string(rune('a'+n)) }}
	key, err := keys.Create(t.Context(), "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^e2b_[0-9a-f]{40}$`).MatchString(key) {
		t.Errorf("minted key %q is not shaped e2b_<40 hex>", key)
	}
	got, err := st.GetAPIKeyByHash(t.Context(), core.HashKey(key))
	if err != nil || got.Hash == key {
		t.Fatalf("stored key: %+v, %v (must be stored hashed)", got, err)
	}
	cases := []struct {
		name, key, tenant string
		want              error
	}{
		{"valid", key, "", nil},
		{"valid with own tenant", key, "acme", nil},
		{"other tenant header", key, "globex", core.ErrPermissionDenied},
		{"unknown key", "e2b_" + "1234567890123456789012345678901234567890", "", core.ErrUnauthenticated},
		{"missing key", "", "", core.ErrUnauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := keys.Authenticate(t.Context(), tc.key, tc.tenant)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == nil && p.TenantID != "acme" {
				t.Errorf("tenant = %q, want acme", p.TenantID)
			}
		})
	}
	if err := keys.Ensure(t.Context(), "acme", key); err != nil {
		t.Errorf("ensure existing key: %v", err)
	}
	if err := keys.Ensure(t.Context(), "globex", key); !errors.Is(err, core.ErrAlreadyExists) {
		t.Errorf("ensure key of another tenant: %v, want ErrAlreadyExists", err)
	}
	if _, err := keys.Create(t.Context(), "bad tenant!", ""); !errors.Is(err, core.ErrInvalidArgument) {
		t.Errorf("bad tenant: %v", err)
	}
	if _, err := keys.Create(t.Context(), "acme", "not-a-key"); !errors.Is(err, core.ErrInvalidArgument) {
		t.Errorf("bad key shape: %v", err)
	}
}

// fakeClock is a settable clock.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// countingStore counts key lookups.
type countingStore struct {
	*store.Store
	lookups int
}

func (c *countingStore) GetAPIKeyByHash(ctx context.Context, hash string) (*core.APIKey, error) {
	c.lookups++
	return c.Store.GetAPIKeyByHash(ctx, hash)
}

func TestKeyCacheSparesLookupsUntilItExpires(t *testing.T) {
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "db.sqlite"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cs := &countingStore{Store: st}
	clock := &fakeClock{now: time.Now()}
	keys := &core.Keys{Store: cs, Clock: clock, IDs: func() string { return "k1" }, CacheTTL: 5 * time.Second}
	key, err := keys.Create(t.Context(), "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := keys.Authenticate(t.Context(), key, ""); err != nil {
			t.Fatal(err)
		}
	}
	if cs.lookups != 1 {
		t.Errorf("lookups within the TTL = %d, want 1", cs.lookups)
	}
	clock.now = clock.now.Add(6 * time.Second)
	if _, err := keys.Authenticate(t.Context(), key, ""); err != nil {
		t.Fatal(err)
	}
	if cs.lookups != 2 {
		t.Errorf("lookups after the TTL = %d, want 2", cs.lookups)
	}
	// Unknown keys are never cached: each is looked up.
	for range 2 {
		if _, err := keys.Authenticate(t.Context(), "e2b_"+strings.Repeat("9", 40), ""); !errors.Is(err, core.ErrUnauthenticated) {
			t.Fatal(err)
		}
	}
	if cs.lookups != 4 {
		t.Errorf("lookups of an unknown key = %d, want 2 more", cs.lookups-2)
	}
}
