package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/snapgate/snapgate/core"
)

// nodeRow is a node of the cluster, written by its own heartbeats.
type nodeRow struct {
	Name        string `gorm:"primaryKey"`
	Address     string
	VCPUs       int `gorm:"column:vcpus"`
	MemoryBytes int64
	HeartbeatAt time.Time
}

func (nodeRow) TableName() string { return "nodes" }

// UpsertNode records n: a node's heartbeat rewrites its whole row.
func (s *Store) UpsertNode(ctx context.Context, n *core.Node) error {
	row := nodeRow{Name: n.Name, Address: n.Address, VCPUs: n.VCPUs, MemoryBytes: n.MemoryBytes, HeartbeatAt: dbTime(n.HeartbeatAt)}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"address", "vcpus", "memory_bytes", "heartbeat_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("upsert node %q: %w", n.Name, err)
	}
	return nil
}

// GetNode returns the node of that name, without usage. ErrNotFound.
func (s *Store) GetNode(ctx context.Context, name string) (*core.Node, error) {
	var row nodeRow
	if err := s.db.WithContext(ctx).Where("name = ?", name).Take(&row).Error; err != nil {
		return nil, dbError(err, "get", fmt.Sprintf("node %q", name))
	}
	return row.toCore(), nil
}

// ListNodes returns every node by name, with the vCPUs and memory held by
// its live sandboxes (of every tenant).
func (s *Store) ListNodes(ctx context.Context) ([]*core.Node, error) {
	var rows []nodeRow
	if err := s.db.WithContext(ctx).Order("name ASC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var used []struct {
		Node        string
		VCPUs       int64 `gorm:"column:vcpus"`
		MemoryBytes int64
	}
	err := s.db.WithContext(ctx).Model(&sandboxRow{}).
		Select("node, COALESCE(SUM(vcpus), 0) AS vcpus, COALESCE(SUM(memory_bytes), 0) AS memory_bytes").
		Where("state IN ?", liveStates).
		Group("node").
		Scan(&used).Error
	if err != nil {
		return nil, fmt.Errorf("sum sandbox resources per node: %w", err)
	}
	out := make([]*core.Node, len(rows))
	for i := range rows {
		out[i] = rows[i].toCore()
		for _, u := range used {
			if u.Node == out[i].Name {
				out[i].UsedVCPUs, out[i].UsedMemoryBytes = int(u.VCPUs), u.MemoryBytes
			}
		}
	}
	return out, nil
}

func (r *nodeRow) toCore() *core.Node {
	return &core.Node{Name: r.Name, Address: r.Address, VCPUs: r.VCPUs, MemoryBytes: r.MemoryBytes, HeartbeatAt: r.HeartbeatAt.UTC()}
}
