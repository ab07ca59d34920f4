package engine_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/tests/testregistry"
)

func digestOf(t *testing.T, s string) digest.Digest {
	t.Helper()
	d, err := digest.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// wantPullError pulls ref and checks the error's kind and that its public
// message mentions every one of wantInMsg.
func wantPullError(t *testing.T, e *env, req core.PullRequest, kind error, wantInMsg ...string) {
	t.Helper()
	if req.Name == "" {
		req.Name = core.ImageRefFor("x")
	}
	got, err := e.eng.Pull(t.Context(), req)
	if !errors.Is(err, kind) {
		t.Fatalf("Pull(%s) = %+v, %v; want %v", req.Source, got, err, kind)
	}
	msg := core.PublicMessage(err)
	for _, w := range wantInMsg {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not mention %q", msg, w)
		}
	}
	t.Logf("message: %s\ncause: %v", msg, err)
	if names, _ := e.eng.ListImages(t.Context()); len(names) != 0 {
		t.Errorf("failed pull left images %v", names)
	}
}

func TestPullRecordsImageAndFetchesBlobsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	ref, digest, img := e.push(t, "busybox", "latest")
	cfg, layers := blobDigests(t, img)
	e.reg.ResetCounts()

	src, err := e.eng.NormalizeReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.eng.Pull(ctx, core.PullRequest{Name: core.ImageRefFor("a"), Source: src})
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if got.Digest != digest {
		t.Errorf("Digest = %s, want the registry's %s", got.Digest, digest)
	}
	st, err := os.Stat(testregistry.BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	if got.UnpackedBytes <= st.Size() {
		t.Errorf("UnpackedBytes = %d, want more than busybox's %d", got.UnpackedBytes, st.Size())
	}
	wantOnce := func(when string) {
		t.Helper()
		for _, d := range append([]string{cfg}, layers...) {
			if n := e.reg.BlobGets(d); n != 1 {
				t.Errorf("%s: blob %s fetched %d times, want 1", when, d, n)
			}
		}
	}
	wantOnce("after first pull")

	again, err := e.eng.Pull(ctx, core.PullRequest{Name: core.ImageRefFor("a"), Source: src})
	if err != nil || again != got {
		t.Errorf("Pull again = %+v, %v; want %+v, nil", again, err, got)
	}
	other, err := e.eng.Pull(ctx, core.PullRequest{Name: core.ImageRefFor("b"), Source: src})
	if err != nil || other != got {
		t.Errorf("Pull under a second name = %+v, %v; want %+v, nil", other, err, got)
	}
	byDigest := strings.TrimSuffix(ref, ":latest") + "@" + digest
	pinned, err := e.eng.Pull(ctx, core.PullRequest{Name: core.ImageRefFor("c"), Source: byDigest})
	if err != nil || pinned != got {
		t.Errorf("Pull by digest = %+v, %v; want %+v, nil", pinned, err, got)
	}
	wantOnce("after pulling again")

	names, err := e.eng.ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	want := []string{core.ImageRefFor("a"), core.ImageRefFor("b"), core.ImageRefFor("c")}
	if !slices.Equal(names, want) {
		t.Errorf("ListImages = %v, want %v (no record under the source name)", names, want)
	}
}

func TestTagAndRemoveShareContent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	ref, _, img := e.push(t, "busybox", "latest")
	_, layers := blobDigests(t, img)
	a, b := core.ImageRefFor("a"), core.ImageRefFor("b")
	if _, err := e.eng.Pull(ctx, core.PullRequest{Name: a, Source: ref}); err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if err := e.eng.TagImage(ctx, a, b); err != nil {
		t.Fatalf("TagImage: %v", err)
	}
	if err := e.eng.TagImage(ctx, a, b); err != nil {
		t.Fatalf("TagImage again: %v", err)
	}
	ia, erra := e.raw.ImageService().Get(e.nsCtx(ctx), a)
	ib, errb := e.raw.ImageService().Get(e.nsCtx(ctx), b)
	if erra != nil || errb != nil || ia.Target.Digest != ib.Target.Digest {
		t.Fatalf("after TagImage: %s -> %v (%v), %s -> %v (%v); want the same target", a, ia.Target.Digest, erra, b, ib.Target.Digest, errb)
	}
	if err := e.eng.TagImage(ctx, core.ImageRefFor("missing"), b); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("TagImage from a missing image = %v, want ErrNotFound", err)
	}

	layerPresent := func() bool {
		t.Helper()
		_, err := e.raw.ContentStore().Info(e.nsCtx(ctx), digestOf(t, layers[0]))
		return err == nil
	}
	if err := e.eng.RemoveImage(ctx, a); err != nil {
		t.Fatalf("RemoveImage(%s): %v", a, err)
	}
	if !layerPresent() {
		t.Fatalf("layer blob gone while %s still uses it", b)
	}
	if err := e.eng.RemoveImage(ctx, b); err != nil {
		t.Fatalf("RemoveImage(%s): %v", b, err)
	}
	if layerPresent() {
		t.Errorf("layer blob still in the content store after removing both names")
	}
	if err := e.eng.RemoveImage(ctx, b); err != nil {
		t.Errorf("RemoveImage of a missing image = %v, want nil", err)
	}
	if names, err := e.eng.ListImages(ctx); err != nil || len(names) != 0 {
		t.Errorf("ListImages = %v, %v; want none", names, err)
	}
}

func TestPullNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.push(t, "busybox", "latest")
	for _, ref := range []string{e.reg.Ref("busybox", "no-such-tag"), e.reg.Ref("no/such/repo", "latest")} {
		t.Run(ref, func(t *testing.T) {
			wantPullError(t, e, core.PullRequest{Source: ref}, core.ErrNotFound, ref, "docker_image")
		})
	}
}

func TestPullHTTPRegistryNotListedInsecure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noInsecure: true})
	ref, _, _ := e.push(t, "busybox", "latest")
	wantPullError(t, e, core.PullRequest{Source: ref}, core.ErrUnavailable, e.reg.Addr(), "SNAPGATE_INSECURE_REGISTRIES")
}

func TestPullClosedPort(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	wantPullError(t, e, core.PullRequest{Source: addr + "/busybox:latest"}, core.ErrUnavailable, addr, "unreachable")
}

func TestPullWithBasicAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{regOpts: []testregistry.Option{testregistry.WithBasicAuth("alice", "s3cret")}})
	ref, digest, _ := e.push(t, "private/busybox", "latest")
	host := e.reg.Addr()

	t.Run("no credentials", func(t *testing.T) {
		wantPullError(t, e, core.PullRequest{Source: ref}, core.ErrPermissionDenied, ref, "registry_id")
	})
	t.Run("wrong password", func(t *testing.T) {
		auth := &core.RegistryAuth{Host: host, Username: "alice", Password: "wrong"}
		wantPullError(t, e, core.PullRequest{Source: ref, Auth: auth}, core.ErrPermissionDenied, ref, "refused credentials", "registry_id")
	})
	t.Run("credentials for another host", func(t *testing.T) {
		auth := &core.RegistryAuth{Host: "registry.example.com", Username: "alice", Password: "s3cret"}
		wantPullError(t, e, core.PullRequest{Source: ref, Auth: auth}, core.ErrPermissionDenied, "registry.example.com", "registry_id")
	})
	t.Run("right credentials", func(t *testing.T) {
		auth := &core.RegistryAuth{Host: host, Username: "alice", Password: "s3cret"}
		got, err := e.eng.Pull(t.Context(), core.PullRequest{Name: core.ImageRefFor("ok"), Source: ref, Auth: auth})
		if err != nil || got.Digest != digest {
			t.Fatalf("Pull = %+v, %v; want digest %s", got, err, digest)
		}
		if err := e.eng.RemoveImage(t.Context(), core.ImageRefFor("ok")); err != nil {
			t.Fatal(err)
		}
	})
}

// A multi-platform index pulls the host platform's manifest and reports
// that manifest's digest.
func TestPullIndexReportsPlatformManifest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	native := e.image(t, "native")
	otherArch := "arm64"
	if runtime.GOARCH == "arm64" {
		otherArch = "amd64"
	}
	foreign, err := testregistry.BusyboxImage(testregistry.WithArchitecture(otherArch), testregistry.WithFile("/etc/arch", []byte(otherArch)))
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx,
		mutate.IndexAddendum{Add: foreign, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: otherArch}}},
		mutate.IndexAddendum{Add: native, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
	)
	if _, err := e.reg.PushIndex(t.Context(), "multi", "latest", idx); err != nil {
		t.Fatal(err)
	}
	nativeDigest, err := native.Digest()
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.eng.Pull(t.Context(), core.PullRequest{Name: core.ImageRefFor("multi"), Source: e.reg.Ref("multi", "latest")})
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if got.Digest != nativeDigest.String() {
		t.Errorf("Digest = %s, want the %s manifest's %s", got.Digest, runtime.GOARCH, nativeDigest)
	}
	_, foreignLayers := blobDigests(t, foreign)
	if n := e.reg.BlobGets(foreignLayers[0]); n != 0 {
		t.Errorf("the %s layer was fetched %d times, want 0", otherArch, n)
	}
	// A push sends that manifest alone: the other platform's blobs are not here.
	pushed, err := e.eng.PushImage(t.Context(), core.ImageRefFor("multi"), e.reg.Ref("snaps/multi", "x"), nil)
	if err != nil || pushed.Digest != nativeDigest.String() {
		t.Errorf("PushImage of the pulled index = %+v, %v; want the %s manifest's %s", pushed, err, runtime.GOARCH, nativeDigest)
	}
}

// Builds of different tenants may pull one image under several names at
// once; they converge on one copy of the content, fetched once.
func TestConcurrentPullsOfOneImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ref, digest, img := e.push(t, "busybox", "latest")
	e.reg.ResetCounts()
	const n = 4
	errs := make(chan error, n)
	for i := range n {
		go func() {
			got, err := e.eng.Pull(t.Context(), core.PullRequest{Name: core.ImageRefFor(fmt.Sprint("c", i)), Source: ref})
			if err == nil && got.Digest != digest {
				err = fmt.Errorf("digest %s, want %s", got.Digest, digest)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Pull: %v", err)
		}
	}
	_, layers := blobDigests(t, img)
	if got := e.reg.BlobGets(layers[0]); got != 1 {
		t.Errorf("layer fetched %d times, want 1 (pulls of one source take turns)", got)
	}
	if names, err := e.eng.ListImages(t.Context()); err != nil || len(names) != n {
		t.Errorf("ListImages = %v, %v; want %d names", names, err, n)
	}
}

// The benchmark's 20,000-file image pulls and reports its unpacked size.
func TestPullManyFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and unpacks a 20,000-file layer")
	}
	t.Parallel()
	e := newEnv(t, envOptions{})
	img, err := testregistry.BusyboxImage(testregistry.WithExtraFiles(20000), testregistry.WithFile("/etc/snapgate-test", []byte(e.ns)))
	if err != nil {
		t.Fatal(err)
	}
	digest, err := e.reg.Push(t.Context(), "busybox", "many-files", img)
	if err != nil {
		t.Fatal(err)
	}
	smallRef, _, _ := e.push(t, "busybox", "latest")
	small, err := e.eng.Pull(t.Context(), core.PullRequest{Name: core.ImageRefFor("small"), Source: smallRef})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.eng.Pull(t.Context(), core.PullRequest{Name: core.ImageRefFor("many"), Source: e.reg.Ref("busybox", "many-files")})
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if got.Digest != digest || got.UnpackedBytes <= small.UnpackedBytes {
		t.Errorf("Pull = %+v; want digest %s and more than the plain image's %d bytes", got, digest, small.UnpackedBytes)
	}
}
