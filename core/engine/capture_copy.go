package engine

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"

	"github.com/snapgate/snapgate/core/engine/fdtree"
)

// overlayParams are the kernel's defaults for overlay mounts that do not
// say otherwise; "Y" means on.
var overlayParams = "/sys/module/overlay/parameters/"

// upperDir returns the upper directory of an overlay snapshot's mounts, or
// false when the snapshot is not a plain overlay. With metacopy an upper
// file may hold only metadata, and with redirect_dir a renamed directory
// points into a lower layer: either makes the upper directory no diff.
func upperDir(mounts []mount.Mount) (string, bool) {
	if len(mounts) != 1 || mounts[0].Type != "overlay" {
		return "", false
	}
	upper := ""
	for _, o := range mounts[0].Options {
		k, v, _ := strings.Cut(o, "=")
		switch {
		case k == "upperdir":
			upper = v
		case (k == "metacopy" || k == "redirect_dir") && v != "off",
			k == "userxattr": // marks in user.overlay.*, which layer.go does not read
			return "", false
		}
	}
	if upper == "" || overlayParamOn("metacopy") || overlayParamOn("redirect_dir") {
		return "", false
	}
	return upper, true
}

// overlayParamOn reads a kernel default; unreadable means off (old kernels
// without the parameter lack the feature).
func overlayParamOn(name string) bool {
	b, err := os.ReadFile(overlayParams + name)
	v := strings.TrimSpace(string(b))
	return err == nil && v != "N" && v != "off"
}

// captureByCopy is the fast path: copy the upper directory into a
// temporary snapshot on the same parent while the sandbox runs, bring the
// copy up to date while it is frozen, then tar the copy at leisure and
// commit it.
func (e *Engine) captureByCopy(ctx context.Context, c containerd.Container, info containers.Container,
	sn snapshots.Snapshotter, upper string, parentDiffIDs []digest.Digest) (layerResult, error) {
	parent := identity.ChainID(parentDiffIDs).String()
	tmpKey := "snapgate-capture-" + randomID()
	tmpMounts, err := sn.Prepare(ctx, tmpKey, parent)
	if err != nil {
		return layerResult{}, fmt.Errorf("prepare capture snapshot: %w", err)
	}
	done := false
	defer func() {
		if !done {
			e.removeSnapshot(ctx, sn, tmpKey)
		}
	}()
	tmpUpper, ok := upperDir(tmpMounts)
	if !ok {
		return layerResult{}, fmt.Errorf("capture snapshot %s is not an overlay: %v", tmpKey, tmpMounts)
	}
	var res layerResult
	src, err := fdtree.OpenRoot(upper)
	if err != nil {
		return res, err
	}
	defer src.Close()
	dst, err := fdtree.OpenRoot(tmpUpper)
	if err != nil {
		return res, err
	}
	defer dst.Close()
	// Most of the copy is made while the sandbox runs; frozen, only what
	// changed meanwhile is copied again (the frozen time no longer grows
	// with everything written since the sandbox started).
	since := time.Now()
	ids := shiftOf(info.Labels)
	if err := copyUpper(ctx, src, dst, ids); err != nil {
		if ctx.Err() != nil {
			return res, err
		}
		// Whatever the pre-copy missed, the sync below repairs.
		e.log.DebugContext(ctx, "pre-copy of upper directory incomplete", "err", err)
	}
	if e.beforeFreeze != nil {
		e.beforeFreeze()
	}
	res.paused, err = e.frozen(ctx, c, func() error { return syncUpper(ctx, src, dst, since, ids) })
	if err != nil {
		return res, err
	}
	if err := stillThere(ctx, sn, c, info.SnapshotKey); err != nil {
		return res, err
	}
	desc, err := e.writeLayerBlob(ctx, tmpUpper, layerBound(diskBytes(info.Labels)))
	if err != nil {
		return res, err
	}
	res.diffID, res.size = desc.Digest, desc.Size
	res.chainID = identity.ChainID(append(parentDiffIDs[:len(parentDiffIDs):len(parentDiffIDs)], desc.Digest)).String()
	if err := e.commitSnapshot(ctx, sn, info.Snapshotter, tmpKey, res.chainID); err != nil {
		return res, err
	}
	done = true
	return res, nil
}

// layerBound is the most a capture of a sandbox with a disk of disk bytes
// may write as its layer: the disk, plus room for tar headers (an ext4
// disk holds one inode per 16 KiB; a header is at most a few KiB). The
// copy keeps holes, but a tar holds a sparse file whole: without a bound a
// 1 TiB sparse file, made in a moment, would fill the host's disk.
func layerBound(disk int64) int64 {
	if disk <= 0 {
		return 0
	}
	return disk + disk/8 + 16<<20
}

// copyUpper copies the upper directory src into dst (another overlay
// upper directory on the same parent) with everything overlay encodes in
// it: whiteout devices, opaque xattrs, hard links, owners, modes, times.
// The runtime's /.snapgate entry is left out. The sandbox runs meanwhile
// and may change anything under src, so the copy walks it through
// descriptors only and skips what vanishes or changes type under it.
// Owners go back to the ids the sandbox saw (ids), so the copy (committed
// as the capture's snapshot) and its layer hold the image's own owners.
func copyUpper(ctx context.Context, src, dst *fdtree.Dir, ids idShift) error {
	cp := fdtree.NewCopier(dst)
	cp.Tolerant = true
	cp.Map = ids.metaToSandbox
	return cp.CopyAll(ctx, src, dst, func(name string) bool { return name == initDir })
}

// commitSnapshot commits the active snapshot key as chainID. When chainID
// exists already (the same change captured before), that one serves: key
// is removed and the existing snapshot is leased instead.
func (e *Engine) commitSnapshot(ctx context.Context, sn snapshots.Snapshotter, snapshotter, key, chainID string) error {
	err := sn.Commit(ctx, chainID, key)
	if err == nil {
		return nil
	}
	if !errdefs.IsAlreadyExists(err) {
		return fmt.Errorf("commit capture snapshot: %w", err)
	}
	e.removeSnapshot(ctx, sn, key)
	return e.leaseSnapshot(ctx, snapshotter, chainID)
}

// leaseSnapshot adds an existing snapshot to the context's lease, so it
// cannot be collected before the new image references it.
func (e *Engine) leaseSnapshot(ctx context.Context, snapshotter, key string) error {
	id, ok := leases.FromContext(ctx)
	if !ok {
		return nil
	}
	res := leases.Resource{ID: key, Type: "snapshots/" + snapshotter}
	if err := e.client.LeasesService().AddResource(ctx, leases.Lease{ID: id}, res); err != nil {
		return fmt.Errorf("lease existing snapshot %s: %w", key, err)
	}
	return nil
}

// removeSnapshot removes a temporary snapshot with a live context; a
// leftover would still go with the lease, so failures are only logged.
func (e *Engine) removeSnapshot(ctx context.Context, sn snapshots.Snapshotter, key string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if err := sn.Remove(rctx, key); err != nil && !errdefs.IsNotFound(err) {
		e.log.WarnContext(ctx, "remove temporary snapshot", "snapshot", key, "err", err)
	}
}
