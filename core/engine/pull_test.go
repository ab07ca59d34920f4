package engine_test

import (
	"errors"
	"fmt"
	"net"
	"runtime"
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
	native, err := busybox()
	if err != nil {
		t.Fatal(err)
	}
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
}

// Builds of different tenants may pull one image under several names at
// once; containerd must converge on one copy of the content.
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
	if got := e.reg.BlobGets(layers[0]); got < 1 || got > n {
		t.Errorf("layer fetched %d times, want between 1 and %d", got, n)
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
	img, err := testregistry.BusyboxImage(testregistry.WithExtraFiles(20000))
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
