package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/snapgate/snapgate/core"
)

// Counted inserts enforce core's quotas without a race: the tenant's usage
// is counted, judged by core's admit function and the row inserted in one
// transaction, and those transactions are serialized per tenant and kind,
// so a second create counts the first one's row. SQLite needs nothing more:
// its transactions begin immediate, taking the database's write lock before
// they count. Postgres runs read committed, where two transactions would
// count the same rows; each first takes a transaction-scoped advisory lock
// on the tenant and kind, released at commit or rollback.

// lockQuota serializes counted inserts of kind for tenant (Postgres).
// Distinct keys that hash alike only wait for each other, never corrupt.
func (s *Store) lockQuota(tx *gorm.DB, kind, tenant string) error {
	if !s.postgres {
		return nil
	}
	key := "snapgate/quota/" + kind + "/" + tenant
	if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", key).Error; err != nil {
		return fmt.Errorf("lock %s quota of tenant %q: %w", kind, tenant, err)
	}
	return nil
}

// CreateSandboxWithin inserts b if admit accepts the tenant's live
// sandboxes counted in the same transaction; admit's error is returned
// unchanged and nothing is inserted. Otherwise as CreateSandbox.
func (s *Store) CreateSandboxWithin(ctx context.Context, b *core.Sandbox, admit func(core.Usage) error) error {
	row, err := s.sandboxToRow(b)
	if err != nil {
		return err
	}
	var refused error
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.lockQuota(tx, "sandboxes", b.TenantID); err != nil {
			return err
		}
		var n int64
		err := tx.Model(&sandboxRow{}).Where("tenant_id = ? AND state IN ?", b.TenantID, liveStates).Count(&n).Error
		if err != nil {
			return fmt.Errorf("count live sandboxes: %w", err)
		}
		if refused = admit(core.Usage{Sandboxes: int(n)}); refused != nil {
			return refused
		}
		return tx.Create(row).Error
	})
	if refused != nil {
		return refused
	}
	if err != nil {
		return dbError(err, "create", sandboxWhat(b))
	}
	return nil
}

// CreateSnapshotWithin inserts snap if admit accepts the tenant's snapshot
// count and stored bytes (core.Usage) counted in the same transaction;
// admit's error is returned unchanged and nothing is inserted. With retag
// the tag is first taken from its holder, as CreateSnapshotRetag does
// (with its one retry on Postgres); otherwise as CreateSnapshot.
func (s *Store) CreateSnapshotWithin(ctx context.Context, snap *core.Snapshot, retag bool, admit func(core.Usage) error) error {
	row := snapshotToRow(snap)
	var refused error
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := s.lockQuota(tx, "snapshots", row.TenantID); err != nil {
				return err
			}
			u, err := snapshotUsage(tx, row.TenantID)
			if err != nil {
				return err
			}
			if refused = admit(u); refused != nil {
				return refused
			}
			if retag && row.Tag != nil {
				err := tx.Model(&snapshotRow{}).
					Where("tenant_id = ? AND name = ? AND tag = ?", row.TenantID, row.Name, *row.Tag).
					Update("tag", nil).Error
				if err != nil {
					return err
				}
			}
			return tx.Create(row).Error
		})
		if !retag || !errors.Is(err, gorm.ErrDuplicatedKey) {
			break
		}
	}
	if refused != nil {
		return refused
	}
	if err != nil {
		return dbError(err, "create", fmt.Sprintf("snapshot %q", snapshotRef(snap.Name, snap.Tag)))
	}
	return nil
}

// snapshotUsage counts the tenant's snapshots and the bytes they hold, as
// core.Usage defines them: ready ones their used bytes and memory state,
// building ones their capacity, failed ones nothing.
func snapshotUsage(tx *gorm.DB, tenant string) (core.Usage, error) {
	var got struct {
		N     int64
		Bytes int64
	}
	err := tx.Model(&snapshotRow{}).
		Select(`COUNT(*) AS n, CAST(COALESCE(SUM(CASE
			WHEN status = ? THEN fs_capacity_bytes
			WHEN status = ? THEN fs_used_bytes + COALESCE(memory_snapshot_size_bytes, 0)
			ELSE 0 END), 0) AS BIGINT) AS bytes`, string(core.SnapshotBuilding), string(core.SnapshotReady)).
		Where("tenant_id = ?", tenant).
		Scan(&got).Error
	if err != nil {
		return core.Usage{}, fmt.Errorf("count snapshots of tenant %q: %w", tenant, err)
	}
	return core.Usage{Snapshots: int(got.N), StorageBytes: got.Bytes}, nil
}
