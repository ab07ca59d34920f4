package core_test

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
	"github.com/snapgate/snapgate/core/secrets"
)

// identity is a Sealer that seals nothing, as a store without a key does.
type identity struct{}

func (identity) Seal(p, _ string) (string, error)       { return p, nil }
func (identity) Open(s, _ string) (string, bool, error) { return s, true, nil }

func newServiceURLs(t *testing.T, e *boxEnv, sealer core.Sealer) *core.ServiceURLs {
	t.Helper()
	dp, err := core.NewDataplane(core.DataplaneOptions{
		Store: e.store, Engine: coretest.NewDataplaneEngine(t.TempDir(), e.eng.SandboxState),
		Sandboxes: e.boxes, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := core.NewServiceURLs(core.ServiceURLsOptions{Store: e.store, Sandboxes: e.boxes, Dataplane: dp, Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func keyring(t *testing.T) core.Sealer {
	t.Helper()
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	k, err := secrets.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Issue checks port and lifetime bounds, naming the field.
func TestServiceURLIssueBounds(t *testing.T) {
	e := newBoxEnv(t)
	s := newServiceURLs(t, e, keyring(t))
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		port int
		ttl  time.Duration
		want string
	}{
		{0, 0, "port"}, {65536, 0, "port"},
		{80, time.Millisecond, "expires_in_seconds"}, {80, 25 * time.Hour, "expires_in_seconds"},
	} {
		_, err := s.Issue(e.ctx, sb.ID, tc.port, tc.ttl)
		var ce *core.Error
		if !errors.As(err, &ce) || ce.Kind != core.ErrInvalidArgument || len(ce.Message) < len(tc.want) || ce.Message[:len(tc.want)] != tc.want {
			t.Errorf("Issue(port %d, ttl %v): %v, want ErrInvalidArgument naming %s", tc.port, tc.ttl, err, tc.want)
		}
	}
	tok, err := s.Issue(e.ctx, sb.ID, 80, 0)
	if err != nil || !tok.ExpiresAt.After(time.Now().Add(590*time.Second)) {
		t.Fatalf("default lifetime: %+v %v", tok, err)
	}
}

// A store without a key seals nothing; tokens "sealed" so are clear text
// anyone could write, and Open refuses them.
func TestServiceURLClearTextTokensRefused(t *testing.T) {
	e := newBoxEnv(t)
	s := newServiceURLs(t, e, identity{})
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Issue(e.ctx, sb.ID, 80, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(t.Context(), sb.ID, 80, tok.Token); core.KindOf(err) != core.ErrUnauthenticated {
		t.Errorf("clear-text token: %v, want ErrUnauthenticated", err)
	}
}

// A token opens a paused box, which is resumed (as a dataplane call does).
func TestServiceURLOpenResumesPausedBox(t *testing.T) {
	e := newBoxEnv(t)
	s := newServiceURLs(t, e, keyring(t))
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Issue(e.ctx, sb.ID, 80, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.boxes.Pause(e.ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	tgt, err := s.Open(t.Context(), sb.ID, 80, tok.Token)
	if err != nil || tgt.Sandbox.State != core.SandboxRunning {
		t.Fatalf("open paused box: %+v %v, want it resumed", tgt, err)
	}
	if err := e.boxes.Kill(e.ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(t.Context(), sb.ID, 80, tok.Token); core.KindOf(err) != core.ErrNotFound {
		t.Errorf("open a killed box: %v, want ErrNotFound", err)
	}
}
