package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/snapgate/snapgate/core"
)

// CreateSnapshot inserts snap. ErrAlreadyExists when its tenant already has
// a snapshot of that name and tag (or the id is taken). Untagged snapshots
// (Tag "") never clash with each other.
func (s *Store) CreateSnapshot(ctx context.Context, snap *core.Snapshot) error {
	if err := s.db.WithContext(ctx).Create(snapshotToRow(snap)).Error; err != nil {
		return dbError(err, "create", fmt.Sprintf("snapshot %q", snapshotRef(snap.Name, snap.Tag)))
	}
	return nil
}

// CreateSnapshotRetag inserts snap after taking its tag from the tenant's
// snapshot that holds snap.Name:snap.Tag, in one transaction. The untag
// UPDATE comes first, so two concurrent calls for the same name and tag
// queue on that row's lock (Postgres) or on the database's write lock
// (SQLite, whose transactions begin immediate). On Postgres a call whose
// insert still meets a rival's just-committed row (there was no row to
// lock, or the rival inserted after this call's UPDATE) is retried once;
// after that the clash is ErrAlreadyExists. Either way the unique index
// leaves exactly one holder of the tag.
func (s *Store) CreateSnapshotRetag(ctx context.Context, snap *core.Snapshot) error {
	row := snapshotToRow(snap)
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if row.Tag != nil {
				err := tx.Model(&snapshotRow{}).
					Where("tenant_id = ? AND name = ? AND tag = ?", row.TenantID, row.Name, *row.Tag).
					Update("tag", nil).Error
				if err != nil {
					return err
				}
			}
			return tx.Create(row).Error
		})
		if !errors.Is(err, gorm.ErrDuplicatedKey) {
			break
		}
	}
	if err != nil {
		return dbError(err, "create", fmt.Sprintf("snapshot %q", snapshotRef(snap.Name, snap.Tag)))
	}
	return nil
}

// snapshotRef is how messages name a snapshot: name, or name:tag.
func snapshotRef(name, tag string) string {
	if tag == "" {
		return name
	}
	return name + ":" + tag
}

// GetSnapshot returns the tenant's snapshot by id. ErrNotFound.
func (s *Store) GetSnapshot(ctx context.Context, tenantID, id string) (*core.Snapshot, error) {
	var row snapshotRow
	err := s.db.WithContext(ctx).Scopes(inTenant(tenantID)).Where("id = ?", id).Take(&row).Error
	if err != nil {
		return nil, dbError(err, "get", fmt.Sprintf("snapshot %q", id))
	}
	return row.toCore(), nil
}

// GetSnapshotByName returns the tenant's snapshot of that name and tag; an
// empty tag means the newest snapshot of that name, tagged or not.
// ErrNotFound.
func (s *Store) GetSnapshotByName(ctx context.Context, tenantID, name, tag string) (*core.Snapshot, error) {
	var row snapshotRow
	q := s.db.WithContext(ctx).Scopes(inTenant(tenantID)).Where("name = ?", name)
	if tag != "" {
		q = q.Where("tag = ?", tag)
	}
	err := q.Order("created_at DESC, id DESC").Take(&row).Error
	if err != nil {
		return nil, dbError(err, "get", fmt.Sprintf("snapshot %q", snapshotRef(name, tag)))
	}
	return row.toCore(), nil
}

// ListSnapshots returns a page of the tenant's snapshots, newest first,
// filtered by f: Name and SourceSandboxID match exactly, Tag (only with
// Name) too, NameContains is a case-insensitive substring.
func (s *Store) ListSnapshots(ctx context.Context, tenantID string, f core.SnapshotFilter) ([]*core.Snapshot, error) {
	var rows []snapshotRow
	q := s.db.WithContext(ctx).Scopes(inTenant(tenantID), nameContains(f.NameContains), page(f.Limit, f.Offset))
	if f.Name != "" {
		q = q.Where("name = ?", f.Name)
		if f.Tag != "" {
			q = q.Where("tag = ?", f.Tag)
		}
	}
	if f.SourceSandboxID != "" {
		q = q.Where("source_sandbox_id = ?", f.SourceSandboxID)
	}
	if f.ImageDigest != "" {
		q = q.Where("image_digest = ?", f.ImageDigest)
	}
	if err := q.Order("created_at DESC, id DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list snapshots of tenant %q: %w", tenantID, err)
	}
	return snapshotsToCore(rows), nil
}

// DeleteSnapshot removes the tenant's snapshot row, whatever its status.
// ErrNotFound.
func (s *Store) DeleteSnapshot(ctx context.Context, tenantID, id string) error {
	res := s.db.WithContext(ctx).Scopes(inTenant(tenantID)).Where("id = ?", id).Delete(&snapshotRow{})
	if res.Error != nil {
		return dbError(res.Error, "delete", fmt.Sprintf("snapshot %q", id))
	}
	if res.RowsAffected == 0 {
		return core.Errorf(core.ErrNotFound, "snapshot %q not found", id)
	}
	return nil
}

// FinishSnapshot records r if the snapshot's status is one of from, and
// drops its build claim. r.MemoryBytes is written as it is: nil leaves the
// snapshot without memory state (NULL). A *core.TransitionError (ErrFailedPrecondition)
// when the status is another one or the row is gone ("deleted").
func (s *Store) FinishSnapshot(ctx context.Context, id string, from []core.SnapshotStatus, r core.SnapshotResult) error {
	statuses := make([]string, len(from))
	for i, st := range from {
		statuses[i] = string(st)
	}
	res := s.db.WithContext(ctx).Model(&snapshotRow{}).
		Where("id = ? AND status IN ?", id, statuses).
		Updates(map[string]any{
			"status":                     string(r.Status),
			"status_message":             r.StatusMessage,
			"image_digest":               r.ImageDigest,
			"fs_used_bytes":              r.FSUsedBytes,
			"memory_snapshot_size_bytes": copyPtr(r.MemoryBytes),
			"registry_ref":               r.RegistryRef,
			"updated_at":                 dbTime(time.Now()),
			"claim_owner":                "",
			"claim_expires":              nil,
		})
	if res.Error != nil {
		return fmt.Errorf("finish snapshot %s as %s: %w", id, r.Status, res.Error)
	}
	if res.RowsAffected > 0 {
		return nil
	}
	// The compare-and-set missed; read the status only to explain why.
	current := "deleted"
	var row snapshotRow
	err := s.db.WithContext(ctx).Select("status").Where("id = ?", id).Take(&row).Error
	switch {
	case err == nil:
		current = row.Status
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("finish snapshot %s: read status: %w", id, err)
	}
	return &core.TransitionError{Resource: "snapshot " + id, From: current, To: string(r.Status)}
}

// claimable matches claims another process may take from owner's view:
// none, expired at now, or owner's own (a restarted node resumes its builds).
func claimable(owner string, now time.Time) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		return db.Where("(claim_owner = '' OR claim_owner IS NULL OR claim_expires IS NULL OR claim_expires < ? OR claim_owner = ?)",
			dbTime(now), owner)
	}
}

// ClaimSnapshotBuild gives owner the building snapshot until `until` when
// its claim is free at now. The conditional update is the lock: of several
// processes racing, exactly one changes the row.
func (s *Store) ClaimSnapshotBuild(ctx context.Context, id, owner string, now, until time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&snapshotRow{}).
		Where("id = ? AND status = ?", id, string(core.SnapshotBuilding)).
		Scopes(claimable(owner, now)).
		Updates(map[string]any{"claim_owner": owner, "claim_expires": dbTime(until)})
	if res.Error != nil {
		return false, fmt.Errorf("claim snapshot %s for %s: %w", id, owner, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ListClaimableBuilds returns building snapshots of every tenant that owner
// may claim at now, oldest first.
func (s *Store) ListClaimableBuilds(ctx context.Context, owner string, now time.Time) ([]*core.Snapshot, error) {
	var rows []snapshotRow
	err := s.db.WithContext(ctx).
		Where("status = ?", string(core.SnapshotBuilding)).
		Scopes(claimable(owner, now)).
		Order("created_at ASC, id ASC").
		Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list builds claimable by %s: %w", owner, err)
	}
	return snapshotsToCore(rows), nil
}

// ReleaseSnapshotClaim drops owner's claim; another owner's claim, or none,
// is left alone.
func (s *Store) ReleaseSnapshotClaim(ctx context.Context, id, owner string) error {
	err := s.db.WithContext(ctx).Model(&snapshotRow{}).
		Where("id = ? AND claim_owner = ?", id, owner).
		Updates(map[string]any{"claim_owner": "", "claim_expires": nil}).Error
	if err != nil {
		return fmt.Errorf("release claim of %s on snapshot %s: %w", owner, id, err)
	}
	return nil
}

// SnapshotImageRefs returns the engine image name of every snapshot row.
func (s *Store) SnapshotImageRefs(ctx context.Context) ([]string, error) {
	var refs []string
	if err := s.db.WithContext(ctx).Model(&snapshotRow{}).Pluck("image_ref", &refs).Error; err != nil {
		return nil, fmt.Errorf("list snapshot image refs: %w", err)
	}
	return refs, nil
}

func snapshotsToCore(rows []snapshotRow) []*core.Snapshot {
	out := make([]*core.Snapshot, len(rows))
	for i := range rows {
		out[i] = rows[i].toCore()
	}
	return out
}
