package store

import (
	"context"

	"github.com/snapgate/snapgate/core"
)

// CreateAPIKey stores k. ErrAlreadyExists when its hash (or id) is taken.
func (s *Store) CreateAPIKey(ctx context.Context, k *core.APIKey) error {
	if err := s.db.WithContext(ctx).Create(apiKeyToRow(k)).Error; err != nil {
		// The hash stays out of the message: it identifies a credential.
		return dbError(err, "create", "api key "+k.ID)
	}
	return nil
}

// GetAPIKeyByHash returns the key with that hash. ErrNotFound.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash string) (*core.APIKey, error) {
	var row apiKeyRow
	if err := s.db.WithContext(ctx).Where("hash = ?", hash).Take(&row).Error; err != nil {
		return nil, dbError(err, "get", "api key")
	}
	return row.toCore(), nil
}
