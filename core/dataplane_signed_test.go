package core_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// A signed URL that names no sandbox (E2B_SANDBOX_URL) opens the running
// sandbox whose token signed it, of any tenant, however many run (here it
// is the oldest, past the first page); an expired one says so in E2B's
// words; a signature no sandbox made opens nothing.
func TestSignedSandbox(t *testing.T) {
	e := newDPEnv(t)
	now := time.Now()
	for i := range 300 {
		id, err := core.NewSandboxID()
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.CreateSandbox(e.ctx, &core.Sandbox{
			ID: id, TenantID: fmt.Sprintf("tenant-%d", i%3), State: core.SandboxRunning, AccessToken: "token-" + id,
			Node: "test", VCPUs: 1, MemoryBytes: 1 << 20, StartedAt: now, CreatedAt: now.Add(time.Duration(i) * time.Millisecond), UpdatedAt: now,
		}); err != nil {
			t.Fatal(err)
		}
	}
	sign := func(sig core.FileSignature, token string) core.FileSignature {
		sig.Signature = core.SignFile(sig, token)
		return sig
	}
	valid := sign(core.FileSignature{Path: "/home/user/a.txt", Operation: "write", User: "user", Expires: now.Add(time.Hour).Unix()}, e.sb.AccessToken)
	tg, err := e.dp.SignedSandbox(t.Context(), valid)
	if err != nil || tg.Sandbox.ID != e.sb.ID {
		t.Fatalf("SignedSandbox = %v, %v; want sandbox %s", tg, err, e.sb.ID)
	}
	expired := sign(core.FileSignature{Path: "x", Operation: "read", Expires: now.Add(-time.Minute).Unix()}, e.sb.AccessToken)
	if _, err := e.dp.SignedSandbox(t.Context(), expired); !errors.Is(err, core.ErrUnauthenticated) || core.PublicMessage(err) != "signature is already expired" {
		t.Errorf("expired: %v, want ErrUnauthenticated \"signature is already expired\"", err)
	}
	for name, sig := range map[string]core.FileSignature{
		"nobody's":  sign(core.FileSignature{Path: "x", Operation: "read"}, "no such token"),
		"malformed": {Path: "x", Operation: "read", Signature: "v1_nope"},
	} {
		if _, err := e.dp.SignedSandbox(t.Context(), sig); !errors.Is(err, core.ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", name, err)
		}
	}
}
