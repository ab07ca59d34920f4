package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/snapgate/snapgate/core"
)

// serviceGrantRow is a shared port of a sandbox (core.ServiceGrant).
type serviceGrantRow struct {
	ID        string `gorm:"primaryKey"`
	TenantID  string
	SandboxID string
	Port      int
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
	ExpiresAt time.Time
}

func (serviceGrantRow) TableName() string { return "service_grants" }

func (r *serviceGrantRow) core() *core.ServiceGrant {
	return &core.ServiceGrant{ID: r.ID, TenantID: r.TenantID, SandboxID: r.SandboxID, Port: r.Port,
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC()}
}

// PutServiceGrant inserts g, or extends the grant its sandbox's port
// already has, and fills g with the stored grant. Two issuers racing on
// one port both end on the one row: the loser of the insert finds the
// winner's row on its second pass.
func (s *Store) PutServiceGrant(ctx context.Context, g *core.ServiceGrant) error {
	var err error
	for range 2 {
		var row *serviceGrantRow
		row, err = s.putServiceGrant(ctx, g)
		if err == nil {
			*g = *row.core()
			return nil
		}
		if !errors.Is(err, gorm.ErrDuplicatedKey) {
			break
		}
	}
	return dbError(err, "put", fmt.Sprintf("service grant of sandbox %s port %d", g.SandboxID, g.Port))
}

func (s *Store) putServiceGrant(ctx context.Context, g *core.ServiceGrant) (*serviceGrantRow, error) {
	var row serviceGrantRow
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		err := tx.Where("sandbox_id = ? AND port = ?", g.SandboxID, g.Port).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			row = serviceGrantRow{ID: g.ID, TenantID: g.TenantID, SandboxID: g.SandboxID, Port: g.Port,
				CreatedAt: dbTime(g.CreatedAt), ExpiresAt: dbTime(g.ExpiresAt)}
			return tx.Create(&row).Error
		}
		if err != nil || !g.ExpiresAt.After(row.ExpiresAt) {
			return err
		}
		row.ExpiresAt = dbTime(g.ExpiresAt)
		return tx.Model(&serviceGrantRow{}).Where("id = ?", row.ID).Update("expires_at", row.ExpiresAt).Error
	})
	return &row, err
}

// GetServiceGrant returns a grant by id, of any tenant. ErrNotFound.
func (s *Store) GetServiceGrant(ctx context.Context, id string) (*core.ServiceGrant, error) {
	var row serviceGrantRow
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, dbError(err, "get", "service grant")
	}
	return row.core(), nil
}

// ListServiceGrants returns the tenant's grants of one sandbox by port.
func (s *Store) ListServiceGrants(ctx context.Context, tenantID, sandboxID string) ([]*core.ServiceGrant, error) {
	var rows []serviceGrantRow
	err := s.db.WithContext(ctx).Scopes(inTenant(tenantID)).Where("sandbox_id = ?", sandboxID).
		Order("port ASC").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list service grants of sandbox %s: %w", sandboxID, err)
	}
	out := make([]*core.ServiceGrant, len(rows))
	for i := range rows {
		out[i] = rows[i].core()
	}
	return out, nil
}

// DeleteServiceGrants removes the tenant's grant of port of a sandbox, or
// every grant of the sandbox when port is 0.
func (s *Store) DeleteServiceGrants(ctx context.Context, tenantID, sandboxID string, port int) error {
	q := s.db.WithContext(ctx).Scopes(inTenant(tenantID)).Where("sandbox_id = ?", sandboxID)
	if port != 0 {
		q = q.Where("port = ?", port)
	}
	if err := q.Delete(&serviceGrantRow{}).Error; err != nil {
		return fmt.Errorf("delete service grants of sandbox %s: %w", sandboxID, err)
	}
	return nil
}
