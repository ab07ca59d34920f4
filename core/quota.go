package core

import (
	"context"
	"fmt"
)

// Quotas bound what each tenant may hold; a zero field is unlimited. They
// are checked when a request would add to a tenant's holdings, so a request
// over a limit is refused at once (ErrResourceExhausted: 429 in both
// vendors' APIs) instead of failing later.
//
// The store counts a tenant's usage and inserts the new row in one
// transaction, serialized per tenant, and asks the admit function in
// between: two concurrent creates can never both take the last place.
type Quotas struct {
	// Sandboxes bounds live sandboxes: starting, running or paused (a
	// paused sandbox still holds its container and writable layer).
	Sandboxes int
	// Snapshots bounds snapshots stored, in any status: a failed
	// snapshot counts until it is deleted, as it is listed until then.
	Snapshots int
	// StorageBytes bounds the bytes snapshots hold (Usage.StorageBytes).
	// A snapshot's size is known only once it is built or captured, so
	// the check admits a new snapshot while the tenant is below the limit:
	// it may take the tenant past the limit once, by at most its
	// fs_capacity_bytes, and then the next one is refused.
	StorageBytes int64
}

// Usage is what a tenant holds, as quotas count it.
type Usage struct {
	Sandboxes int // live sandboxes
	Snapshots int // snapshot rows in any status
	// StorageBytes sums, over the tenant's snapshots: a ready snapshot's
	// fs_used_bytes plus its memory state; a building snapshot's
	// fs_capacity_bytes, the most its build may record (a build that would
	// exceed it fails), so concurrent builds cannot all slip under the
	// limit; nothing for a failed one, whose content was removed.
	StorageBytes int64
}

// admitSandbox refuses one more live sandbox when the tenant has its quota.
func (q Quotas) admitSandbox(u Usage) error {
	if q.Sandboxes > 0 && u.Sandboxes >= q.Sandboxes {
		// The LangSmith SDKs derive the quota type from the message's
		// words: "sandbox" with "count" or "limit" is sandbox_count.
		return Errorf(ErrResourceExhausted,
			"sandbox count limit reached: %d of %d sandboxes running or paused; delete one to start another",
			u.Sandboxes, q.Sandboxes)
	}
	return nil
}

// admitSnapshot refuses one more snapshot when the tenant has its count or
// storage quota. The messages avoid the words the LangSmith SDKs read as
// another quota type ("sandbox", "cpu", "memory").
func (q Quotas) admitSnapshot(u Usage) error {
	if q.Snapshots > 0 && u.Snapshots >= q.Snapshots {
		return Errorf(ErrResourceExhausted,
			"snapshot limit reached: %d of %d snapshots stored; delete one to create another",
			u.Snapshots, q.Snapshots)
	}
	if q.StorageBytes > 0 && u.StorageBytes >= q.StorageBytes {
		return Errorf(ErrResourceExhausted,
			"storage limit reached: snapshots hold %s of %s (a snapshot still building counts its fs_capacity_bytes); delete snapshots to free space",
			formatBytes(u.StorageBytes), formatBytes(q.StorageBytes))
	}
	return nil
}

// limitsSandboxes reports whether sandbox creates need the counted insert.
func (q Quotas) limitsSandboxes() bool { return q.Sandboxes > 0 }

// limitsSnapshots reports whether snapshot creates need the counted insert.
func (q Quotas) limitsSnapshots() bool { return q.Snapshots > 0 || q.StorageBytes > 0 }

// formatBytes writes n in the largest binary unit that keeps it >= 1,
// with the exact count beside it: "1.5 GiB (1610612736 bytes)".
func formatBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB (%d bytes)", v, units[i], n)
}

// precheckQuota refuses a sandbox create early, before a snapshot is
// resolved (or waited for) and a warm sandbox taken, when the tenant is
// already at its quota. The list is bounded by the quota itself. It is
// only a fast path: insertSandbox decides, race-free.
func (s *Sandboxes) precheckQuota(ctx context.Context, tenantID string) error {
	q := s.opt.Quotas
	if !q.limitsSandboxes() {
		return nil
	}
	live, err := s.opt.Store.ListSandboxes(ctx, tenantID, SandboxFilter{Limit: q.Sandboxes})
	if err != nil {
		return fmt.Errorf("count sandboxes of tenant %s: %w", tenantID, err)
	}
	return q.admitSandbox(Usage{Sandboxes: len(live)})
}

// insertSandbox records sb, counted against its tenant's sandbox quota.
func (s *Sandboxes) insertSandbox(ctx context.Context, sb *Sandbox) error {
	if !s.opt.Quotas.limitsSandboxes() {
		return s.opt.Store.CreateSandbox(ctx, sb)
	}
	return s.opt.Store.CreateSandboxWithin(ctx, sb, s.opt.Quotas.admitSandbox)
}

// insertSnapshot records snap (taking its tag from the holder with retag),
// counted against its tenant's snapshot and storage quotas.
func (s *Snapshots) insertSnapshot(ctx context.Context, snap *Snapshot, retag bool) error {
	switch {
	case s.opt.Quotas.limitsSnapshots():
		return s.opt.Store.CreateSnapshotWithin(ctx, snap, retag, s.opt.Quotas.admitSnapshot)
	case retag:
		return s.opt.Store.CreateSnapshotRetag(ctx, snap)
	}
	return s.opt.Store.CreateSnapshot(ctx, snap)
}
