package store

import (
	"context"
	"fmt"
	"log/slog"

	"gorm.io/gorm"
)

// Additional data a secret is sealed with: its table, column and row, so a
// sealed value copied to another row does not open there.
func registryPasswordAAD(id string) string { return "registries.password:" + id }
func accessTokenAAD(id string) string      { return "sandboxes.access_token:" + id }

// clearText is the Sealer of a store opened without one: values are
// stored as given.
type clearText struct{}

func (clearText) Seal(plaintext, _ string) (string, error) { return plaintext, nil }
func (clearText) Open(stored, _ string) (string, bool, error) {
	return stored, false, nil
}

// resealBatch is how many rows reseal reads at a time.
const resealBatch = 500

// sealedColumn is a column holding a secret, for reseal.
type sealedColumn struct {
	table, column string
	aad           func(id string) string
}

var sealedColumns = []sealedColumn{
	{"registries", "password", registryPasswordAAD},
	{"sandboxes", "access_token", accessTokenAAD},
}

// reseal seals every secret that is stale: clear text from before sealing,
// or sealed with a previous key (rotation). Each row is rewritten only if
// it still holds the value read, so a concurrent update by another node
// wins and is not overwritten with an older secret. Any value the keys
// cannot open fails the start, naming the row and the key id it needs.
func (s *Store) reseal(ctx context.Context, log *slog.Logger) error {
	if _, ok := s.sealer.(clearText); ok {
		return nil
	}
	total := 0
	for _, col := range sealedColumns {
		n, err := s.resealColumn(ctx, col)
		if err != nil {
			return fmt.Errorf("re-seal %s.%s: %w", col.table, col.column, err)
		}
		if n > 0 {
			log.InfoContext(ctx, "re-sealed stored secrets", "table", col.table, "column", col.column, "rows", n)
		}
		total += n
	}
	if total == 0 || s.postgres {
		return nil
	}
	// The replaced values still sit in the WAL's old frames until a
	// checkpoint; TRUNCATE copies the pages home and empties the WAL file.
	if err := s.db.WithContext(ctx).Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error; err != nil {
		return fmt.Errorf("re-seal: checkpoint: %w", err)
	}
	return nil
}

type secretRow struct {
	ID     string
	Secret string
}

func (s *Store) resealColumn(ctx context.Context, col sealedColumn) (int, error) {
	var rows []secretRow
	resealed := 0
	err := s.db.WithContext(ctx).Table(col.table).
		Select("id, "+col.column+" AS secret").
		Where(col.column+" <> ''").
		FindInBatches(&rows, resealBatch, func(tx *gorm.DB, _ int) error {
			for _, r := range rows {
				plain, stale, err := s.sealer.Open(r.Secret, col.aad(r.ID))
				if err != nil {
					return err
				}
				if !stale {
					continue
				}
				sealed, err := s.sealer.Seal(plain, col.aad(r.ID))
				if err != nil {
					return err
				}
				res := s.db.WithContext(ctx).Table(col.table).
					Where("id = ? AND "+col.column+" = ?", r.ID, r.Secret).
					Update(col.column, sealed)
				if res.Error != nil {
					return fmt.Errorf("row %s: %w", r.ID, res.Error)
				}
				resealed += int(res.RowsAffected)
			}
			return nil
		}).Error
	return resealed, err
}
