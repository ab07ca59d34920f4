package core

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"
)

// APIKey belongs to one tenant. Only the SHA-256 of the secret is stored:
// keys are 160 random bits, so a fast hash is enough and lookups stay O(1).
type APIKey struct {
	ID        string
	TenantID  string
	Hash      string // hex sha256 of the key
	Prefix    string // first characters, to recognise a key in listings
	CreatedAt time.Time
}

// Principal is the authenticated caller of a request.
type Principal struct {
	TenantID string
	KeyID    string
}

// keyRE is the key shape: E2B's SDK refuses keys not shaped e2b_<40 hex>,
// so one key serves both vendors' SDKs.
var keyRE = regexp.MustCompile(`^e2b_[0-9a-f]{40}$`)

// tenantRE limits tenant ids to safe, short identifiers.
var tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// HashKey returns the stored form of a key.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// NewKeySecret returns a fresh random key in the e2b_<40 hex> shape.
func NewKeySecret() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return "e2b_" + hex.EncodeToString(b), nil
}

// Keys mints and checks API keys.
type Keys struct {
	Store Store
	Clock Clock
	IDs   func() string
	// CacheTTL keeps a verified key in memory this long, sparing the store a
	// lookup on every request (it was half of a GET's store time). A key
	// deleted from the store stays usable for at most this long; 0 = no cache.
	CacheTTL time.Duration
	cache    sync.Map // hash -> cachedKey
}

type cachedKey struct {
	key     *APIKey
	expires time.Time
}

// lookup returns the key with hash, from the cache when fresh.
func (k *Keys) lookup(ctx context.Context, hash string) (*APIKey, error) {
	now := k.Clock.Now()
	if v, ok := k.cache.Load(hash); ok && now.Before(v.(cachedKey).expires) {
		return v.(cachedKey).key, nil
	}
	rec, err := k.Store.GetAPIKeyByHash(ctx, hash)
	if err == nil && k.CacheTTL > 0 {
		k.cache.Store(hash, cachedKey{key: rec, expires: now.Add(k.CacheTTL)})
	}
	return rec, err
}

// Create stores key for tenant (minting one when key is empty) and returns
// the key secret. ErrInvalidArgument for a bad tenant or key shape.
func (k *Keys) Create(ctx context.Context, tenantID, key string) (string, error) {
	if !tenantRE.MatchString(tenantID) {
		return "", Errorf(ErrInvalidArgument, "tenant %q is invalid: use letters, digits, '.', '_', '-' (at most 63)", tenantID)
	}
	if key == "" {
		var err error
		if key, err = NewKeySecret(); err != nil {
			return "", err
		}
	}
	if !keyRE.MatchString(key) {
		return "", Errorf(ErrInvalidArgument, "api key must be shaped e2b_ followed by 40 lowercase hex digits")
	}
	rec := &APIKey{ID: k.IDs(), TenantID: tenantID, Hash: HashKey(key), Prefix: key[:8], CreatedAt: k.Clock.Now()}
	if err := k.Store.CreateAPIKey(ctx, rec); err != nil {
		return "", fmt.Errorf("store api key for tenant %s: %w", tenantID, err)
	}
	return key, nil
}

// Ensure stores key for tenant unless it exists already. It refuses a key
// that exists for another tenant.
func (k *Keys) Ensure(ctx context.Context, tenantID, key string) error {
	existing, err := k.Store.GetAPIKeyByHash(ctx, HashKey(key))
	switch {
	case err == nil && existing.TenantID == tenantID:
		return nil
	case err == nil:
		return Errorf(ErrAlreadyExists, "bootstrap key already belongs to another tenant")
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("look up bootstrap key: %w", err)
	}
	_, err = k.Create(ctx, tenantID, key)
	return err
}

// Authenticate resolves a presented key (and optional tenant header) to a
// principal. ErrUnauthenticated for a missing or unknown key,
// ErrPermissionDenied when tenantHeader names another tenant.
func (k *Keys) Authenticate(ctx context.Context, key, tenantHeader string) (Principal, error) {
	if key == "" {
		return Principal{}, Errorf(ErrUnauthenticated, "missing API key: send it in the X-Api-Key header")
	}
	hash := HashKey(key)
	rec, err := k.lookup(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, Errorf(ErrUnauthenticated, "invalid API key")
	}
	if err != nil {
		return Principal{}, fmt.Errorf("look up api key: %w", err)
	}
	// The lookup is by hash already; compare in constant time anyway so a
	// store that matched loosely can never let a different key through.
	if subtle.ConstantTimeCompare([]byte(rec.Hash), []byte(hash)) != 1 {
		return Principal{}, Errorf(ErrUnauthenticated, "invalid API key")
	}
	if tenantHeader != "" && tenantHeader != rec.TenantID {
		return Principal{}, Errorf(ErrPermissionDenied, "X-Tenant-Id does not match the API key's tenant")
	}
	return Principal{TenantID: rec.TenantID, KeyID: rec.ID}, nil
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx. ErrUnauthenticated when absent.
func PrincipalFrom(ctx context.Context) (Principal, error) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	if !ok || p.TenantID == "" {
		return Principal{}, Errorf(ErrUnauthenticated, "missing API key")
	}
	return p, nil
}
