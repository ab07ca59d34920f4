package engine_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine"
)

type engineOptions = engine.Options

// engineWith opens a second engine on the test's namespace with changed
// options.
func (e *env) engineWith(t *testing.T, change func(*engineOptions)) *engine.Engine {
	t.Helper()
	opts := engineOptions{Address: ctrAddress, Namespace: e.ns}
	change(&opts)
	eng, err := engine.New(t.Context(), opts)
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	return eng
}

// pullFilesOnlyImage pushes and pulls an image of just these regular
// files: no shell, no libc.
func (e *env) pullFilesOnlyImage(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		body := files[p]
		hdr := &tar.Header{Name: strings.TrimPrefix(p, "/"), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf.Bytes())), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	base, err = mutate.ConfigFile(base, &v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH, RootFS: v1.RootFS{Type: "layers"}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Push(t.Context(), "files", "latest", img); err != nil {
		t.Fatal(err)
	}
	name := core.ImageRefFor("files")
	if _, err := e.eng.Pull(t.Context(), core.PullRequest{Name: name, Source: e.reg.Ref("files", "latest")}); err != nil {
		t.Fatalf("Pull: %v", err)
	}
	return name
}

// capturedImage is what the content store holds for an image.
type capturedImage struct {
	manifest ocispec.Manifest
	config   ocispec.Image
	labels   map[string]string // of the manifest blob
	top      []*tar.Header     // entries of the last layer
	topBytes map[string][]byte // their contents (regular files)
}

// inspect reads image name's manifest, config and last layer, checking
// that the last layer's digest is its diff ID (a plain tar).
func (e *env) inspect(t *testing.T, name string) capturedImage {
	t.Helper()
	ctx := e.nsCtx(t.Context())
	img, err := e.raw.ImageService().Get(ctx, name)
	if err != nil {
		t.Fatalf("get image %s: %v", name, err)
	}
	cs := e.raw.ContentStore()
	var ci capturedImage
	readJSON(t, ctx, cs, img.Target, &ci.manifest)
	readJSON(t, ctx, cs, ci.manifest.Config, &ci.config)
	info, err := cs.Info(ctx, img.Target.Digest)
	if err != nil {
		t.Fatal(err)
	}
	ci.labels = info.Labels
	top := ci.manifest.Layers[len(ci.manifest.Layers)-1]
	ids := ci.config.RootFS.DiffIDs
	if top.MediaType != ocispec.MediaTypeImageLayer || ids[len(ids)-1] != top.Digest {
		t.Errorf("top layer %s (%s); want a plain tar whose digest is the last diff ID %s", top.Digest, top.MediaType, ids[len(ids)-1])
	}
	blob, err := content.ReadBlob(ctx, cs, top)
	if err != nil {
		t.Fatal(err)
	}
	if digest.FromBytes(blob) != top.Digest {
		t.Errorf("layer blob does not match its digest")
	}
	ci.topBytes = map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(blob))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read layer tar: %v", err)
		}
		ci.top = append(ci.top, h)
		if h.Typeflag == tar.TypeReg {
			ci.topBytes[h.Name], _ = io.ReadAll(tr)
		}
	}
	return ci
}

func readJSON(t *testing.T, ctx context.Context, cs content.Provider, desc ocispec.Descriptor, v any) {
	t.Helper()
	b, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		t.Fatalf("read %s: %v", desc.Digest, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", desc.Digest, err)
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
