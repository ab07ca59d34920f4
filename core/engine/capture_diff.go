package engine

import (
	"context"
	"fmt"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// captureByDiff is the slow path for snapshots whose upper directory
// cannot be read as a diff: containerd's diff service compares the frozen
// sandbox's mounts with a view of the parent and writes the layer server
// side, then applies it onto a temporary snapshot that is committed under
// the new chain ID. Unlike the fast path it keeps the /.snapgate mount
// point (an empty directory and file) in the layer; a sandbox started from
// the image mounts the init binary over it anyway.
func (e *Engine) captureByDiff(ctx context.Context, c containerd.Container, info containers.Container,
	sn snapshots.Snapshotter, parentDiffIDs []digest.Digest) (layerResult, error) {
	parent := identity.ChainID(parentDiffIDs).String()
	viewKey := "snapgate-capture-view-" + randomID()
	lower, err := sn.View(ctx, viewKey, parent)
	if err != nil {
		return layerResult{}, fmt.Errorf("view parent snapshot: %w", err)
	}
	defer e.removeSnapshot(ctx, sn, viewKey)
	upper, err := sn.Mounts(ctx, info.SnapshotKey)
	if err != nil {
		return layerResult{}, err
	}
	var desc ocispec.Descriptor
	var res layerResult
	res.paused, err = e.frozen(ctx, c, func() error {
		var err error
		desc, err = e.client.DiffService().Compare(ctx, lower, upper,
			diff.WithMediaType(ocispec.MediaTypeImageLayer),
			diff.WithReference("snapgate-layer-"+randomID()))
		return err
	})
	if err != nil {
		return res, fmt.Errorf("compute diff: %w", err)
	}
	if err := stillThere(ctx, sn, c, info.SnapshotKey); err != nil {
		return res, err
	}
	res.diffID, res.size = desc.Digest, desc.Size
	res.chainID = identity.ChainID(append(parentDiffIDs[:len(parentDiffIDs):len(parentDiffIDs)], desc.Digest)).String()
	return res, e.applyAndCommit(ctx, sn, info.Snapshotter, parent, desc, res.chainID)
}

// applyAndCommit unpacks layer desc onto parent and commits it as chainID.
func (e *Engine) applyAndCommit(ctx context.Context, sn snapshots.Snapshotter, snapshotter, parent string,
	desc ocispec.Descriptor, chainID string) error {
	if _, err := sn.Stat(ctx, chainID); err == nil {
		return e.leaseSnapshot(ctx, snapshotter, chainID)
	}
	key := "snapgate-capture-" + randomID()
	mounts, err := sn.Prepare(ctx, key, parent)
	if err != nil {
		return fmt.Errorf("prepare capture snapshot: %w", err)
	}
	if err := e.apply(ctx, desc, mounts); err != nil {
		e.removeSnapshot(ctx, sn, key)
		return err
	}
	if err := e.commitSnapshot(ctx, sn, snapshotter, key, chainID); err != nil {
		e.removeSnapshot(ctx, sn, key)
		return err
	}
	return nil
}

func (e *Engine) apply(ctx context.Context, desc ocispec.Descriptor, mounts []mount.Mount) error {
	if _, err := e.client.DiffService().Apply(ctx, desc, mounts); err != nil {
		return fmt.Errorf("apply captured layer: %w", err)
	}
	return nil
}
