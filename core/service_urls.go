package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Service URLs (LangSmith's serviceUrl): a box's TCP port shared over HTTP
// with whoever holds a token, no API key needed.
//
// A token is stateless: the grant id, sandbox, port and expiry sealed with
// the server's key (a Sealer), so nobody can mint or alter one and a proxy
// checks it without a lookup of its own. The grant is a row per shared
// port (ServiceGrant): the listing shows it, and deleting it revokes every
// token minted from it at once, since a token only opens while its grant
// exists. Issuing again for a port that has a grant extends the grant and
// keeps its id, so refreshed and earlier tokens stay valid side by side
// until each one's own expiry; after a delete a new grant (a new id)
// starts, and the tokens of the deleted one stay dead.

// ServiceGrant is one shared port of a sandbox.
type ServiceGrant struct {
	ID        string
	TenantID  string
	SandboxID string
	Port      int
	CreatedAt time.Time
	// ExpiresAt is the expiry of the latest token minted from the grant:
	// past it, the grant shares nothing (the listing omits it).
	ExpiresAt time.Time
}

// Bounds of a service token's lifetime (the Python SDK checks the same
// range client-side).
const (
	DefaultServiceTokenTTL = 600 * time.Second
	MaxServiceTokenTTL     = 24 * time.Hour
)

// serviceTokenAAD binds sealed service tokens to their use: a value sealed
// for a database column does not open as a token, nor the reverse.
const serviceTokenAAD = "snapgate service token v1"

// ServiceURLsOptions configures ServiceURLs.
type ServiceURLsOptions struct {
	Store Store
	// Sandboxes finds the caller's boxes by id or name.
	Sandboxes *Sandboxes
	// Dataplane opens (resuming a paused box) and dials the box's port.
	Dataplane *Dataplane
	// Sealer seals tokens; it must be the server's keyring (one key
	// shared by the nodes of a cluster), not clear text.
	Sealer Sealer
	Clock  Clock
}

// ServiceURLs issues, lists and revokes service tokens and opens the port
// a token grants.
type ServiceURLs struct{ opt ServiceURLsOptions }

// NewServiceURLs returns the service.
func NewServiceURLs(opt ServiceURLsOptions) (*ServiceURLs, error) {
	if opt.Store == nil || opt.Sandboxes == nil || opt.Dataplane == nil || opt.Sealer == nil {
		return nil, errors.New("service urls: store, sandboxes, dataplane and sealer are required")
	}
	if opt.Clock == nil {
		opt.Clock = SystemClock{}
	}
	return &ServiceURLs{opt: opt}, nil
}

// ServiceToken is a minted token and the grant it was minted from.
type ServiceToken struct {
	Sandbox   *Sandbox
	Grant     *ServiceGrant
	Token     string
	ExpiresAt time.Time
}

// Issue mints a token for port of the caller's box ref, valid for ttl (0:
// DefaultServiceTokenTTL). ErrInvalidArgument (port outside 1..65535, ttl
// outside 1 s..MaxServiceTokenTTL), ErrNotFound (no such box of the
// caller's tenant), ErrUnauthenticated.
func (s *ServiceURLs) Issue(ctx context.Context, ref string, port int, ttl time.Duration) (*ServiceToken, error) {
	if err := checkPort(port); err != nil {
		return nil, err
	}
	if ttl == 0 {
		ttl = DefaultServiceTokenTTL
	}
	if ttl < time.Second || ttl > MaxServiceTokenTTL {
		return nil, Errorf(ErrInvalidArgument, "expires_in_seconds: %d is not between 1 and %d",
			int64(ttl/time.Second), int64(MaxServiceTokenTTL/time.Second))
	}
	sb, err := s.opt.Sandboxes.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	now := s.opt.Clock.Now()
	// Whole seconds: expires_at is shown without fractions and the token
	// carries unix seconds, so both say the same instant.
	exp := now.Add(ttl).Truncate(time.Second)
	id, err := newGrantID()
	if err != nil {
		return nil, err
	}
	g := &ServiceGrant{ID: id, TenantID: sb.TenantID, SandboxID: sb.ID, Port: port, CreatedAt: now, ExpiresAt: exp}
	if err := s.opt.Store.PutServiceGrant(ctx, g); err != nil {
		return nil, fmt.Errorf("record service grant of sandbox %s port %d: %w", sb.ID, port, err)
	}
	tok, err := s.opt.Sealer.Seal(tokenClaims{grant: g.ID, sandbox: sb.ID, port: port, exp: exp.Unix()}.String(), serviceTokenAAD)
	if err != nil {
		return nil, fmt.Errorf("seal service token of sandbox %s port %d: %w", sb.ID, port, err)
	}
	return &ServiceToken{Sandbox: sb, Grant: g, Token: tok, ExpiresAt: exp}, nil
}

// List returns the live grants of the caller's box ref, by port; expired
// ones are left out. ErrNotFound, ErrUnauthenticated.
func (s *ServiceURLs) List(ctx context.Context, ref string) ([]*ServiceGrant, error) {
	sb, err := s.opt.Sandboxes.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	all, err := s.opt.Store.ListServiceGrants(ctx, sb.TenantID, sb.ID)
	if err != nil {
		return nil, fmt.Errorf("list service grants of sandbox %s: %w", sb.ID, err)
	}
	now := s.opt.Clock.Now()
	out := []*ServiceGrant{}
	for _, g := range all {
		if g.ExpiresAt.After(now) {
			out = append(out, g)
		}
	}
	return out, nil
}

// Revoke deletes the grant of port (every port when 0) of the caller's
// box ref: its tokens stop opening at once. ErrInvalidArgument (port),
// ErrNotFound, ErrUnauthenticated.
func (s *ServiceURLs) Revoke(ctx context.Context, ref string, port int) error {
	if port != 0 {
		if err := checkPort(port); err != nil {
			return err
		}
	}
	sb, err := s.opt.Sandboxes.Get(ctx, ref)
	if err != nil {
		return err
	}
	if err := s.opt.Store.DeleteServiceGrants(ctx, sb.TenantID, sb.ID, port); err != nil {
		return fmt.Errorf("delete service grants of sandbox %s port %d: %w", sb.ID, port, err)
	}
	return nil
}

// Open authorizes a request for port of sandbox id with token and returns
// the sandbox, resumed if it was paused. ErrUnauthenticated (no token, not
// one of ours, expired, revoked), ErrPermissionDenied (a token of another
// sandbox or port), ErrNotFound (the sandbox is gone),
// ErrFailedPrecondition (still starting).
func (s *ServiceURLs) Open(ctx context.Context, sandboxID string, port int, token string) (*Target, error) {
	claims, err := s.verify(token)
	if err != nil {
		return nil, err
	}
	if claims.sandbox != sandboxID || claims.port != port {
		return nil, Errorf(ErrPermissionDenied, "the service token is for another sandbox or port")
	}
	g, err := s.opt.Store.GetServiceGrant(ctx, claims.grant)
	if errors.Is(err, ErrNotFound) || err == nil && (g.SandboxID != sandboxID || g.Port != port) {
		return nil, Errorf(ErrUnauthenticated, "the service token was revoked")
	}
	if err != nil {
		return nil, fmt.Errorf("get service grant of sandbox %s: %w", sandboxID, err)
	}
	// The grant's tenant is the caller: the dataplane then finds and
	// resumes the box as for any of the tenant's dataplane calls.
	pctx := WithPrincipal(ctx, Principal{TenantID: g.TenantID, KeyID: "service-grant:" + g.ID})
	return s.opt.Dataplane.OpenForPrincipal(pctx, sandboxID)
}

// Dial connects to port of t's sandbox (Dataplane.DialPort).
func (s *ServiceURLs) Dial(ctx context.Context, t *Target, port int) (net.Conn, error) {
	return s.opt.Dataplane.DialPort(ctx, t, port)
}

// verify opens and checks a token's seal and expiry.
func (s *ServiceURLs) verify(token string) (tokenClaims, error) {
	if token == "" {
		return tokenClaims{}, Errorf(ErrUnauthenticated, "missing service token")
	}
	plain, _, err := s.opt.Sealer.Open(token, serviceTokenAAD)
	// A Sealer returns a value it did not seal as it is (clear text from
	// before sealing): that is a forged token here.
	if err != nil || plain == token {
		return tokenClaims{}, Errorf(ErrUnauthenticated, "invalid service token")
	}
	c, err := parseTokenClaims(plain)
	if err != nil {
		return tokenClaims{}, Errorf(ErrUnauthenticated, "invalid service token")
	}
	if !s.opt.Clock.Now().Before(time.Unix(c.exp, 0)) {
		return tokenClaims{}, Errorf(ErrUnauthenticated, "the service token has expired")
	}
	return c, nil
}

// tokenClaims is what a token seals.
type tokenClaims struct {
	grant, sandbox string
	port           int
	exp            int64 // unix seconds
}

func (c tokenClaims) String() string {
	return strings.Join([]string{"v1", c.grant, c.sandbox, strconv.Itoa(c.port), strconv.FormatInt(c.exp, 10)}, "|")
}

func parseTokenClaims(s string) (tokenClaims, error) {
	f := strings.Split(s, "|")
	if len(f) != 5 || f[0] != "v1" {
		return tokenClaims{}, errors.New("malformed claims")
	}
	port, err := strconv.Atoi(f[3])
	if err != nil {
		return tokenClaims{}, fmt.Errorf("port: %w", err)
	}
	exp, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil {
		return tokenClaims{}, fmt.Errorf("expiry: %w", err)
	}
	return tokenClaims{grant: f[1], sandbox: f[2], port: port, exp: exp}, nil
}

func checkPort(port int) error {
	if port < 1 || port > 65535 {
		return Errorf(ErrInvalidArgument, "port: %d is not between 1 and 65535", port)
	}
	return nil
}

func newGrantID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("grant id: %w", err)
	}
	return hex.EncodeToString(b), nil
}
