package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/snapgate/snapgate/core"
)

// GC labels: once the capture's lease is gone, containerd collects what no
// label references, so a manifest names its config and layers, and a
// config the snapshot its image is unpacked to.
const (
	gcConfigLabel   = "containerd.io/gc.ref.content.config"
	gcLayerLabel    = "containerd.io/gc.ref.content.l.%d"
	gcSnapshotLabel = "containerd.io/gc.ref.snapshot."
)

// baseImage is the image a sandbox was started from.
type baseImage struct {
	manifest ocispec.Manifest
	// config is kept as raw fields, so fields ocispec does not know
	// (Docker's Healthcheck, Shell, ...) reach the new config unchanged.
	config  map[string]json.RawMessage
	diffIDs []digest.Digest
	history []ocispec.History
}

// loadBase reads the manifest the sandbox was started from: the one named
// by its label (kept alive by it), else its image record's.
func (e *Engine) loadBase(ctx context.Context, info containers.Container) (baseImage, error) {
	cs := e.client.ContentStore()
	var mdesc ocispec.Descriptor
	if d, ok := info.Labels[baseManifestLabel]; ok {
		dg, err := digest.Parse(d)
		if err != nil {
			return baseImage{}, fmt.Errorf("label %s: %w", baseManifestLabel, err)
		}
		mdesc.Digest = dg
	} else {
		img, err := e.client.GetImage(ctx, info.Image)
		if err != nil {
			return baseImage{}, fmt.Errorf("image of the sandbox: %w", err)
		}
		if mdesc, err = platformManifest(ctx, cs, img.Target(), img.Platform()); err != nil {
			return baseImage{}, err
		}
	}
	var b baseImage
	if err := readJSON(ctx, cs, mdesc, &b.manifest); err != nil {
		return baseImage{}, err
	}
	if err := readJSON(ctx, cs, b.manifest.Config, &b.config); err != nil {
		return baseImage{}, err
	}
	var rootfs ocispec.RootFS
	if err := json.Unmarshal(b.config["rootfs"], &rootfs); err != nil {
		return baseImage{}, fmt.Errorf("config rootfs: %w", err)
	}
	if h, ok := b.config["history"]; ok {
		if err := json.Unmarshal(h, &b.history); err != nil {
			return baseImage{}, fmt.Errorf("config history: %w", err)
		}
	}
	b.diffIDs = rootfs.DiffIDs
	if len(b.diffIDs) != len(b.manifest.Layers) {
		return baseImage{}, fmt.Errorf("image config lists %d layers, its manifest %d", len(b.diffIDs), len(b.manifest.Layers))
	}
	return b, nil
}

func readJSON(ctx context.Context, cs content.Provider, desc ocispec.Descriptor, v any) error {
	b, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		return fmt.Errorf("read blob %s: %w", desc.Digest, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode blob %s: %w", desc.Digest, err)
	}
	return nil
}

// recordImage writes the config and manifest of base plus layer and
// records them as name, last, so a failure before leaves no record.
func (e *Engine) recordImage(ctx context.Context, c containerd.Container, info containers.Container,
	base baseImage, layer layerResult, name string) (core.CapturedImage, error) {
	cfg, err := newConfig(base, layer.diffID, c.ID(), time.Now().UTC())
	if err != nil {
		return core.CapturedImage{}, err
	}
	cfgDesc := jsonDesc(ocispec.MediaTypeImageConfig, cfg)
	layerDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: layer.diffID, Size: layer.size}
	mf, labels, err := newManifest(base.manifest, cfgDesc, layerDesc)
	if err != nil {
		return core.CapturedImage{}, err
	}
	mDesc := jsonDesc(ocispec.MediaTypeImageManifest, mf)
	// The two writes are independent (the lease holds both until the
	// record does) and each costs a few round trips and a metadata commit.
	cfgDone := make(chan error, 1)
	go func() {
		cfgDone <- e.writeBlob(ctx, cfgDesc, cfg, map[string]string{gcSnapshotLabel + info.Snapshotter: layer.chainID})
	}()
	err = e.writeBlob(ctx, mDesc, mf, labels)
	if err := errors.Join(err, <-cfgDone); err != nil {
		return core.CapturedImage{}, err
	}
	size, err := e.unpackedSize(ctx, info.Snapshotter, append(slices.Clip(base.diffIDs), layer.diffID))
	if err != nil {
		return core.CapturedImage{}, err
	}
	// A sandbox killed during the capture yields no image.
	if err := stillThere(ctx, e.client.SnapshotService(info.Snapshotter), c, info.SnapshotKey); err != nil {
		return core.CapturedImage{}, err
	}
	if _, err := putImage(ctx, e.client.ImageService(), images.Image{Name: name, Target: mDesc}); err != nil {
		return core.CapturedImage{}, fmt.Errorf("record image %s: %w", name, err)
	}
	return core.CapturedImage{Digest: mDesc.Digest.String(), UnpackedBytes: size}, nil
}

// newConfig is base's config with the layer's diff ID appended and a
// history entry for it (only when base's history matches its layers, as
// tools check that it does).
func newConfig(base baseImage, diffID digest.Digest, sandboxID string, now time.Time) ([]byte, error) {
	cfg := maps.Clone(base.config)
	set := func(k string, v any) error {
		b, err := json.Marshal(v)
		cfg[k] = b
		return err
	}
	rootfs := ocispec.RootFS{Type: "layers", DiffIDs: append(slices.Clip(base.diffIDs), diffID)}
	if err := set("rootfs", rootfs); err != nil {
		return nil, err
	}
	if err := set("created", now); err != nil {
		return nil, err
	}
	nonEmpty := 0
	for _, h := range base.history {
		if !h.EmptyLayer {
			nonEmpty++
		}
	}
	if nonEmpty == len(base.diffIDs) {
		h := append(slices.Clip(base.history), ocispec.History{Created: &now, CreatedBy: "snapgate: capture of sandbox " + sandboxID})
		if err := set("history", h); err != nil {
			return nil, err
		}
	}
	return json.Marshal(cfg)
}

// newManifest is an OCI manifest of base's layers plus layer, with the
// labels that keep config and layers. Docker media types become their OCI
// equivalents: OCI and Docker types should not be mixed in one manifest.
func newManifest(base ocispec.Manifest, cfg, layer ocispec.Descriptor) ([]byte, map[string]string, error) {
	m := ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      cfg,
		Annotations: base.Annotations,
	}
	for _, l := range base.Layers {
		switch l.MediaType {
		case images.MediaTypeDockerSchema2Layer:
			l.MediaType = ocispec.MediaTypeImageLayer
		case images.MediaTypeDockerSchema2LayerGzip:
			l.MediaType = ocispec.MediaTypeImageLayerGzip
		}
		m.Layers = append(m.Layers, l)
	}
	m.Layers = append(m.Layers, layer)
	labels := map[string]string{gcConfigLabel: cfg.Digest.String()}
	for i, l := range m.Layers {
		labels[fmt.Sprintf(gcLayerLabel, i)] = l.Digest.String()
	}
	b, err := json.Marshal(m)
	return b, labels, err
}

// unpackedSize sums the usage of each layer's snapshot: du-style disk
// usage of the whole root filesystem, as Pull reports it.
func (e *Engine) unpackedSize(ctx context.Context, snapshotter string, diffIDs []digest.Digest) (int64, error) {
	sn := e.client.SnapshotService(snapshotter)
	var size int64
	for _, chainID := range identity.ChainIDs(slices.Clone(diffIDs)) {
		u, err := sn.Usage(ctx, chainID.String())
		if err != nil {
			return 0, fmt.Errorf("usage of snapshot %s: %w", chainID, err)
		}
		size += u.Size
	}
	return size, nil
}
