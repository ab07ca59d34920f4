package coretest

import (
	"strings"
	"testing"

	"github.com/snapgate/snapgate/core"
)

// Image references are normalized as docker does: core keys pull sharing
// and shows docker_image by the normalized form, and a bad reference is
// the client's ErrInvalidArgument naming docker_image.
func testNormalizeReference(t *testing.T, env EngineEnv) {
	const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	good := []struct{ in, want string }{
		{"busybox", "docker.io/library/busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"someone/tool:v2", "docker.io/someone/tool:v2"},
		{"ghcr.io/org/team/img:v1", "ghcr.io/org/team/img:v1"},
		{"127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest"},
		{"localhost:5000/a/b:c", "localhost:5000/a/b:c"},
		{"busybox:1.36@" + dgst, "docker.io/library/busybox@" + dgst},
	}
	for _, tc := range good {
		got, err := env.Engine.NormalizeReference(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeReference(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	bad := []string{"", "Busybox", "busybox:", "bad ref", "busybox@sha256:abc", "http://docker.io/busybox",
		dgst[len("sha256:"):], strings.Repeat("a", 513)}
	for _, in := range bad {
		got, err := env.Engine.NormalizeReference(in)
		if !strings.Contains(core.PublicMessage(err), "docker_image") {
			t.Errorf("NormalizeReference(%.40q) = %q, %v; want ErrInvalidArgument naming docker_image", in, got, err)
		}
		wantKind(t, "NormalizeReference("+in[:min(len(in), 40)]+")", err, core.ErrInvalidArgument)
	}
}

// Pull records an image under the name asked for, converges when
// repeated, and shares one source between names; tags share content and
// survive the removal of the original name.
func testPullTagRemove(t *testing.T, env EngineEnv) {
	ctx := t.Context()
	a, b, tag := uniqueName(t, "a"), uniqueName(t, "b"), uniqueName(t, "tag")
	first := pull(t, env, a)
	if !digestPattern.MatchString(first.Digest) || first.UnpackedBytes <= 0 {
		t.Errorf("Pull = %+v; want a sha256 digest and the unpacked size", first)
	}
	if again := pull(t, env, a); again != first {
		t.Errorf("second Pull as the same name = %+v, want %+v", again, first)
	}
	if other := pull(t, env, b); other.Digest != first.Digest {
		t.Errorf("Pull of the same source as another name = %+v, want digest %s", other, first.Digest)
	}
	wantImages(t, env, []string{a, b}, []string{tag})

	if err := env.Engine.TagImage(ctx, a, tag); err != nil {
		t.Fatalf("TagImage: %v", err)
	}
	if err := env.Engine.TagImage(ctx, a, tag); err != nil {
		t.Errorf("TagImage onto an existing name = %v, want success", err)
	}
	wantKind(t, "TagImage from a missing image", env.Engine.TagImage(ctx, uniqueName(t, "missing"), uniqueName(t, "x")), core.ErrNotFound)
	for range 2 { // removing a missing image is success
		if err := env.Engine.RemoveImage(ctx, a); err != nil {
			t.Errorf("RemoveImage: %v", err)
		}
	}
	wantImages(t, env, []string{b, tag}, []string{a})
	// The tag still starts sandboxes after its source name is gone.
	id := sandboxID()
	if err := env.Engine.StartSandbox(ctx, spec(id, tag)); err != nil {
		t.Errorf("StartSandbox from a tag whose source was removed: %v", err)
	}
	if err := env.Engine.KillSandbox(ctx, id); err != nil {
		t.Errorf("KillSandbox: %v", err)
	}
	for _, n := range []string{b, tag} {
		if err := env.Engine.RemoveImage(ctx, n); err != nil {
			t.Errorf("RemoveImage(%s): %v", n, err)
		}
	}
	wantImages(t, env, nil, []string{a, b, tag})
}

// A failed pull records nothing; its kind is the client's to act on.
func testPullErrors(t *testing.T, env EngineEnv) {
	ctx := t.Context()
	name := uniqueName(t, "x")
	_, err := env.Engine.Pull(ctx, core.PullRequest{Source: env.Source})
	wantKind(t, "Pull without a name", err, core.ErrInvalidArgument)
	_, err = env.Engine.Pull(ctx, core.PullRequest{Name: name, Source: "Bad Ref"})
	wantKind(t, "Pull of a malformed reference", err, core.ErrInvalidArgument)
	_, err = env.Engine.Pull(ctx, core.PullRequest{Name: name, Source: env.Missing})
	wantKind(t, "Pull of a missing image", err, core.ErrNotFound)
	if msg := core.PublicMessage(err); !strings.Contains(msg, env.Missing) {
		t.Errorf("Pull of a missing image: message %q does not name %s", msg, env.Missing)
	}
	wantImages(t, env, nil, []string{name})
}

// A push keeps the local manifest digest, which core records to find the
// snapshots that share a registry manifest; deletes go by digest.
func testPush(t *testing.T, env EngineEnv) {
	if env.PushRepo == "" {
		t.Skip("no registry to push to")
	}
	ctx := t.Context()
	name := uniqueName(t, "pushed")
	img := pull(t, env, name)
	ref := env.PushRepo + ":conformance"
	_, err := env.Engine.PushImage(ctx, uniqueName(t, "missing"), ref, nil)
	wantKind(t, "PushImage of a missing image", err, core.ErrNotFound)
	_, err = env.Engine.PushImage(ctx, name, "Bad Ref", nil)
	wantKind(t, "PushImage to a malformed reference", err, core.ErrInvalidArgument)
	pushed, err := env.Engine.PushImage(ctx, name, ref, nil)
	if err != nil {
		t.Fatalf("PushImage: %v", err)
	}
	if pushed.Digest != img.Digest {
		t.Errorf("PushImage digest %s, want the local image's %s", pushed.Digest, img.Digest)
	}
	back, err := env.Engine.Pull(ctx, core.PullRequest{Name: uniqueName(t, "back"), Source: env.PushRepo + "@" + pushed.Digest})
	if err != nil || back.Digest != img.Digest {
		t.Errorf("Pull of the pushed digest = %+v, %v; want digest %s", back, err, img.Digest)
	}
	wantKind(t, "DeleteRemoteImage by tag", env.Engine.DeleteRemoteImage(ctx, ref, nil), core.ErrInvalidArgument)
	for range 2 { // a manifest already gone is success
		if err := env.Engine.DeleteRemoteImage(ctx, env.PushRepo+"@"+pushed.Digest, nil); err != nil {
			t.Errorf("DeleteRemoteImage: %v", err)
		}
	}
}
