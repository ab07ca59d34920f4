package core

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Registry holds credentials for pulling private images. The password has
// to be usable for pulls, so it cannot be hashed: the store seals it (a
// Sealer) before it reaches the database, and the API never returns it.
type Registry struct {
	ID        string
	TenantID  string
	Name      string
	URL       string // host[:port][/path] or a URL
	Username  string
	Password  string
	AuthType  string
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Host returns the registry host[:port] credentials apply to.
func (r *Registry) Host() string { return registryHost(r.URL) }

func registryHost(raw string) string {
	s := raw
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return strings.ToLower(s)
}

// RegistryFilter selects registries for listing.
type RegistryFilter struct {
	NameContains string
	Limit        int
	Offset       int
}

// RegistryPatch changes some fields of a registry; nil means unchanged.
type RegistryPatch struct {
	Name, URL, Username, Password, AuthType *string
}

// Registries manages a tenant's registry credentials.
type Registries struct {
	Store Store
	Clock Clock
	IDs   func() string
}

func validateRegistryURL(raw string) error {
	host := registryHost(raw)
	if host == "" {
		return Errorf(ErrInvalidArgument, "url must name a registry host, got %q", raw)
	}
	if _, err := url.Parse("https://" + host); err != nil || strings.ContainsAny(host, " \t@") {
		return Errorf(ErrInvalidArgument, "url %q does not name a valid registry host", raw)
	}
	return nil
}

func validateAuthType(t string) error {
	switch t {
	case "", "DOCKER_CONFIG":
		return nil
	case "AWS_ROLE":
		return Errorf(ErrInvalidArgument, "auth_type AWS_ROLE is not supported by snapgate; use DOCKER_CONFIG with a username and password")
	}
	return Errorf(ErrInvalidArgument, "auth_type must be DOCKER_CONFIG, got %q", t)
}

// Create stores a registry for the caller's tenant. ErrInvalidArgument,
// ErrAlreadyExists.
func (s *Registries) Create(ctx context.Context, r Registry) (*Registry, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := ValidateName("name", r.Name); err != nil {
		return nil, err
	}
	if err := validateRegistryURL(r.URL); err != nil {
		return nil, err
	}
	if err := validateAuthType(r.AuthType); err != nil {
		return nil, err
	}
	if r.AuthType == "" {
		r.AuthType = "DOCKER_CONFIG"
	}
	now := s.Clock.Now()
	r.ID, r.TenantID, r.CreatedBy, r.CreatedAt, r.UpdatedAt = s.IDs(), p.TenantID, p.KeyID, now, now
	if err := s.Store.CreateRegistry(ctx, &r); err != nil {
		return nil, fmt.Errorf("create registry %s: %w", r.Name, err)
	}
	return &r, nil
}

// Get returns the tenant's registry by name or id. ErrNotFound.
func (s *Registries) Get(ctx context.Context, nameOrID string) (*Registry, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	return s.Store.GetRegistry(ctx, p.TenantID, nameOrID)
}

// List returns the tenant's registries.
func (s *Registries) List(ctx context.Context, f RegistryFilter) ([]*Registry, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	f.Limit, err = pageLimit(f.Limit)
	if err != nil {
		return nil, err
	}
	if f.Offset < 0 {
		return nil, Errorf(ErrInvalidArgument, "offset must be >= 0, got %d", f.Offset)
	}
	return s.Store.ListRegistries(ctx, p.TenantID, f)
}

// Update applies patch to the tenant's registry. ErrNotFound,
// ErrInvalidArgument, ErrAlreadyExists.
func (s *Registries) Update(ctx context.Context, nameOrID string, patch RegistryPatch) (*Registry, error) {
	r, err := s.Get(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	if patch.Name != nil {
		if err := ValidateName("name", *patch.Name); err != nil {
			return nil, err
		}
		r.Name = *patch.Name
	}
	if patch.URL != nil {
		if err := validateRegistryURL(*patch.URL); err != nil {
			return nil, err
		}
		r.URL = *patch.URL
	}
	if patch.AuthType != nil {
		if err := validateAuthType(*patch.AuthType); err != nil {
			return nil, err
		}
		r.AuthType = *patch.AuthType
	}
	if patch.Username != nil {
		r.Username = *patch.Username
	}
	if patch.Password != nil {
		r.Password = *patch.Password
	}
	r.UpdatedAt = s.Clock.Now()
	if err := s.Store.UpdateRegistry(ctx, r); err != nil {
		return nil, fmt.Errorf("update registry %s: %w", r.ID, err)
	}
	return r, nil
}

// Delete removes the tenant's registry. ErrNotFound.
func (s *Registries) Delete(ctx context.Context, nameOrID string) error {
	r, err := s.Get(ctx, nameOrID)
	if err != nil {
		return err
	}
	return s.Store.DeleteRegistry(ctx, r.TenantID, r.ID)
}

func pageLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultLimit, nil
	case limit < 1 || limit > maxLimit:
		return 0, Errorf(ErrInvalidArgument, "limit must be between 1 and %d, got %d", maxLimit, limit)
	}
	return limit, nil
}
