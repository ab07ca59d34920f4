package store

import (
	"context"
	"fmt"

	"gorm.io/gorm/clause"

	"github.com/snapgate/snapgate/core"
)

// CreateRegistry stores g. ErrAlreadyExists when its tenant already has a
// registry of that name (or the id is taken).
func (s *Store) CreateRegistry(ctx context.Context, g *core.Registry) error {
	row, err := s.registryToRow(g)
	if err != nil {
		return err
	}
	if err := s.db.WithContext(ctx).Create(row).Error; err != nil {
		return dbError(err, "create", fmt.Sprintf("registry %q", g.Name))
	}
	return nil
}

// GetRegistry returns the tenant's registry whose id or name is nameOrID;
// an id match wins, since a name may look like another registry's id.
// ErrNotFound.
func (s *Store) GetRegistry(ctx context.Context, tenantID, nameOrID string) (*core.Registry, error) {
	var row registryRow
	err := s.db.WithContext(ctx).Scopes(inTenant(tenantID)).
		Where("(id = ? OR name = ?)", nameOrID, nameOrID).
		Order(clause.OrderBy{Expression: clause.Expr{SQL: "CASE WHEN id = ? THEN 0 ELSE 1 END", Vars: []any{nameOrID}}}).
		Take(&row).Error
	if err != nil {
		return nil, dbError(err, "get", fmt.Sprintf("registry %q", nameOrID))
	}
	return s.registryToCore(&row)
}

// ListRegistries returns a page of the tenant's registries by name.
func (s *Store) ListRegistries(ctx context.Context, tenantID string, f core.RegistryFilter) ([]*core.Registry, error) {
	var rows []registryRow
	err := s.db.WithContext(ctx).
		Scopes(inTenant(tenantID), nameContains(f.NameContains), page(f.Limit, f.Offset)).
		Order("name ASC, id ASC").
		Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list registries of tenant %q: %w", tenantID, err)
	}
	out := make([]*core.Registry, len(rows))
	for i := range rows {
		if out[i], err = s.registryToCore(&rows[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UpdateRegistry saves every field of g but its id and tenant, which select
// the row. ErrNotFound, ErrAlreadyExists (name taken in the tenant).
func (s *Store) UpdateRegistry(ctx context.Context, g *core.Registry) error {
	row, err := s.registryToRow(g)
	if err != nil {
		return err
	}
	res := s.db.WithContext(ctx).Model(&registryRow{}).Scopes(inTenant(g.TenantID)).
		Where("id = ?", g.ID).
		Updates(map[string]any{
			"name":       row.Name,
			"url":        row.URL,
			"username":   row.Username,
			"password":   row.Password,
			"auth_type":  row.AuthType,
			"created_by": row.CreatedBy,
			"created_at": row.CreatedAt,
			"updated_at": row.UpdatedAt,
		})
	if res.Error != nil {
		return dbError(res.Error, "update", fmt.Sprintf("registry %q", g.Name))
	}
	if res.RowsAffected == 0 {
		return core.Errorf(core.ErrNotFound, "registry %q not found", g.ID)
	}
	return nil
}

// DeleteRegistry removes the tenant's registry by id. ErrNotFound.
func (s *Store) DeleteRegistry(ctx context.Context, tenantID, id string) error {
	res := s.db.WithContext(ctx).Scopes(inTenant(tenantID)).Where("id = ?", id).Delete(&registryRow{})
	if res.Error != nil {
		return dbError(res.Error, "delete", fmt.Sprintf("registry %q", id))
	}
	if res.RowsAffected == 0 {
		return core.Errorf(core.ErrNotFound, "registry %q not found", id)
	}
	return nil
}
