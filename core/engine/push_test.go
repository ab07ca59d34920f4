package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/tests/testregistry"
)

// A captured image pushed to a registry and pulled back, after the local
// copy is gone, has the same digest and the files the sandbox wrote; a
// second push sends nothing the registry already has.
func TestPushImageRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	base := e.pullSandboxImage(t, "push")
	sb := e.start(t, base)
	e.sh(t, sb, "echo pushed > /root/marker")
	captured := core.ImageRefFor("push-cap")
	img, err := e.eng.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: sb, Name: captured})
	if err != nil {
		t.Fatalf("CaptureSandbox: %v", err)
	}

	ref := e.reg.Ref("snaps/t1", "cap")
	got, err := e.eng.PushImage(ctx, captured, ref, nil)
	if err != nil {
		t.Fatalf("PushImage: %v", err)
	}
	if got.Digest != img.Digest || got.Bytes <= 0 {
		t.Errorf("PushImage = %+v; want the captured digest %s and some bytes sent", got, img.Digest)
	}
	again, err := e.eng.PushImage(ctx, captured, ref, nil)
	if err != nil || again.Digest != img.Digest || again.Bytes != 0 {
		t.Errorf("second PushImage = %+v, %v; want the same digest and 0 bytes sent", again, err)
	}
	// Only the new layer travels to a second tag of the same repository.
	other, err := e.eng.PushImage(ctx, base, e.reg.Ref("snaps/t1", "base"), nil)
	if err != nil || other.Bytes <= 0 || other.Bytes >= got.Bytes {
		t.Errorf("PushImage of the base = %+v, %v; want fewer bytes than the first push's %d (layers shared)", other, err, got.Bytes)
	}

	if err := e.eng.KillSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{captured, base} {
		if err := e.eng.RemoveImage(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	pulled, err := e.eng.Pull(ctx, core.PullRequest{Name: captured, Source: ref + "@" + got.Digest})
	if err != nil {
		t.Fatalf("Pull of the pushed image: %v", err)
	}
	if pulled.Digest != img.Digest {
		t.Errorf("pulled digest %s, want %s", pulled.Digest, img.Digest)
	}
	if out := e.sh(t, e.start(t, captured), "cat /root/marker"); out != "pushed\n" {
		t.Errorf("marker in a sandbox from the pulled image = %q, want %q", out, "pushed\n")
	}
}

func TestPushImageErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	img := e.pullSandboxImage(t, "push-errors")
	locked, err := testregistry.Start(ctx, testregistry.WithBasicAuth("pusher", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = locked.Close() })
	insecure := e.engineWith(t, func(o *engineOptions) { o.InsecureRegistries = []string{e.reg.Addr(), locked.Addr()} })
	auth := func(user, pass string) *core.RegistryAuth {
		return &core.RegistryAuth{Host: locked.Addr(), Username: user, Password: pass}
	}
	tests := []struct {
		name, image, ref string
		auth             *core.RegistryAuth
		kind             error
		wantInMsg        []string
	}{
		{"missing image", core.ImageRefFor("missing"), e.reg.Ref("snaps/x", "a"), nil, core.ErrNotFound, []string{"not on this server"}},
		{"bad reference", img, "Bad Ref", nil, core.ErrInvalidArgument, []string{"Bad Ref"}},
		{"no credentials", img, locked.Ref("snaps/x", "a"), nil, core.ErrPermissionDenied, []string{locked.Addr(), "needs credentials"}},
		{"wrong credentials", img, locked.Ref("snaps/x", "a"), auth("pusher", "wrong"), core.ErrPermissionDenied, []string{"username and password"}},
		{"unreachable", img, "127.0.0.1:1/snaps/x:a", nil, core.ErrUnavailable, []string{"127.0.0.1:1", "unreachable"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := insecure.PushImage(ctx, tc.image, tc.ref, tc.auth)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("PushImage = %+v, %v; want %v", got, err, tc.kind)
			}
			msg := core.PublicMessage(err)
			for _, w := range tc.wantInMsg {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not mention %q", msg, w)
				}
			}
			t.Logf("message: %s\ncause: %v", msg, err)
		})
	}
	t.Run("plain HTTP registry not listed", func(t *testing.T) {
		plain := e.engineWith(t, func(o *engineOptions) { o.InsecureRegistries = nil })
		_, err := plain.PushImage(ctx, img, e.reg.Ref("snaps/x", "a"), nil)
		if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(core.PublicMessage(err), "SNAPGATE_INSECURE_REGISTRIES") {
			t.Errorf("PushImage over HTTPS to a plain-HTTP registry = %v; want ErrUnavailable naming SNAPGATE_INSECURE_REGISTRIES", err)
		}
	})
	t.Run("right credentials, then delete", func(t *testing.T) {
		ref := locked.Ref("snaps/x", "a")
		got, err := insecure.PushImage(ctx, img, ref, auth("pusher", "secret"))
		if err != nil {
			t.Fatalf("PushImage with credentials: %v", err)
		}
		byDigest := locked.Addr() + "/snaps/x@" + got.Digest
		if err := insecure.DeleteRemoteImage(ctx, byDigest, auth("pusher", "wrong")); !errors.Is(err, core.ErrPermissionDenied) {
			t.Errorf("DeleteRemoteImage with wrong credentials = %v, want ErrPermissionDenied", err)
		}
		if err := insecure.DeleteRemoteImage(ctx, byDigest, auth("pusher", "secret")); err != nil {
			t.Fatalf("DeleteRemoteImage: %v", err)
		}
		_, err = insecure.Pull(ctx, core.PullRequest{Name: core.ImageRefFor("deleted"), Source: byDigest, Auth: auth("pusher", "secret")})
		if !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Pull of a deleted manifest = %v, want ErrNotFound", err)
		}
		if err := insecure.DeleteRemoteImage(ctx, byDigest, auth("pusher", "secret")); err != nil {
			t.Errorf("DeleteRemoteImage of a deleted manifest = %v, want nil", err)
		}
		if err := insecure.DeleteRemoteImage(ctx, ref, nil); !errors.Is(err, core.ErrInvalidArgument) {
			t.Errorf("DeleteRemoteImage by tag = %v, want ErrInvalidArgument", err)
		}
	})
}
