package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/snapgate/snapgate/core"
)

// CreateSandbox inserts b. ErrAlreadyExists when a live sandbox of its
// tenant has the same name (or the id is taken); ErrInvalidArgument when
// env or metadata holds invalid UTF-8 or NUL characters.
func (s *Store) CreateSandbox(ctx context.Context, b *core.Sandbox) error {
	row, err := s.sandboxToRow(b)
	if err != nil {
		return err
	}
	if err := s.db.WithContext(ctx).Create(row).Error; err != nil {
		return dbError(err, "create", sandboxWhat(b))
	}
	return nil
}

// sandboxWhat names a sandbox in messages: by name when it has one.
func sandboxWhat(b *core.Sandbox) string {
	if b.Name != "" {
		return fmt.Sprintf("sandbox %q", b.Name)
	}
	return fmt.Sprintf("sandbox %q", b.ID)
}

// GetSandbox returns the tenant's sandbox by id, in any state. ErrNotFound.
func (s *Store) GetSandbox(ctx context.Context, tenantID, id string) (*core.Sandbox, error) {
	var row sandboxRow
	err := s.db.WithContext(ctx).Scopes(inTenant(tenantID)).Where("id = ?", id).Take(&row).Error
	if err != nil {
		return nil, dbError(err, "get", fmt.Sprintf("sandbox %q", id))
	}
	return s.sandboxToCore(&row)
}

// GetSandboxByName returns the tenant's live sandbox of that name.
// ErrNotFound, also for a name only killed or failed sandboxes had.
func (s *Store) GetSandboxByName(ctx context.Context, tenantID, name string) (*core.Sandbox, error) {
	var row sandboxRow
	err := s.db.WithContext(ctx).Scopes(inTenant(tenantID)).
		Where("live_name = ?", name).
		Order("created_at DESC, id DESC").
		Take(&row).Error
	if err != nil {
		return nil, dbError(err, "get", fmt.Sprintf("sandbox %q", name))
	}
	return s.sandboxToCore(&row)
}

// TransitionSandbox moves the sandbox to state `to` if its state is one of
// from, writing ch's fields and updated_at in the same compare-and-set
// UPDATE. Leaving the live states frees the sandbox's name. A
// *core.TransitionError (ErrFailedPrecondition) when the state is another
// one or the row is gone ("deleted").
func (s *Store) TransitionSandbox(ctx context.Context, id string, from []core.SandboxState, to core.SandboxState, ch core.SandboxChange) error {
	states := make([]string, len(from))
	for i, st := range from {
		states[i] = string(st)
	}
	set := map[string]any{
		"state":      string(to),
		"updated_at": dbTime(time.Now()),
	}
	if to.Live() {
		// Normally unchanged; restores the invariant if `to` revives a row.
		set["live_name"] = gorm.Expr("NULLIF(name, '')")
	} else {
		set["live_name"] = nil
	}
	if ch.StatusMessage != nil {
		set["status_message"] = *ch.StatusMessage
	}
	if ch.Deadline != nil {
		set["deadline"] = nullTime(*ch.Deadline)
	}
	if ch.StartedAt != nil {
		set["started_at"] = nullTime(*ch.StartedAt)
	}
	res := s.db.WithContext(ctx).Model(&sandboxRow{}).Where("id = ? AND state IN ?", id, states).Updates(set)
	if res.Error != nil {
		return dbError(res.Error, "transition "+string(to), fmt.Sprintf("sandbox %q", id))
	}
	if res.RowsAffected > 0 {
		return nil
	}
	// The compare-and-set missed; read the state only to explain why.
	current := "deleted"
	var row sandboxRow
	err := s.db.WithContext(ctx).Select("state").Where("id = ?", id).Take(&row).Error
	switch {
	case err == nil:
		current = row.State
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("transition sandbox %s to %s: read state: %w", id, to, err)
	}
	return &core.TransitionError{Resource: "sandbox " + id, From: current, To: string(to)}
}

// UpdateSandbox saves the name, deadline, timeout action, metadata, idle
// TTL and delete-after-stop time (and UpdatedAt, when set) of the live
// sandbox b.ID of b.TenantID. ErrNotFound
// when it is not live; ErrAlreadyExists when another live sandbox of the
// tenant has the name; ErrInvalidArgument for metadata CreateSandbox refuses.
func (s *Store) UpdateSandbox(ctx context.Context, b *core.Sandbox) error {
	if err := checkMap("metadata", b.Metadata); err != nil {
		return err
	}
	meta, err := encodeMap(b.Metadata)
	if err != nil {
		return fmt.Errorf("encode metadata of sandbox %s: %w", b.ID, err)
	}
	net, err := encodeNetwork(b.Network)
	if err != nil {
		return fmt.Errorf("encode network policy of sandbox %s: %w", b.ID, err)
	}
	set := map[string]any{
		"name":       b.Name,
		"live_name":  nullString(b.Name),
		"deadline":   nullTime(b.Deadline),
		"on_timeout": string(b.OnTimeout),
		"metadata":   meta,
		// LangSmith's idle TTL and delete-after-stop time.
		"idle_ttl_seconds":          seconds(b.IdleTTL),
		"delete_after_stop_seconds": seconds(b.DeleteAfterStop),
		"network":                   net,
	}
	if !b.UpdatedAt.IsZero() {
		set["updated_at"] = dbTime(b.UpdatedAt)
	}
	res := s.db.WithContext(ctx).Model(&sandboxRow{}).Scopes(inTenant(b.TenantID)).
		Where("id = ? AND state IN ?", b.ID, liveStates).
		Updates(set)
	if res.Error != nil {
		return dbError(res.Error, "update", sandboxWhat(b))
	}
	if res.RowsAffected == 0 {
		return core.Errorf(core.ErrNotFound, "sandbox %q not found", b.ID)
	}
	return nil
}

// ListExpiredSandboxes returns the live sandboxes of every tenant on node
// whose deadline is before now, soonest deadline first.
func (s *Store) ListExpiredSandboxes(ctx context.Context, node string, now time.Time) ([]*core.Sandbox, error) {
	var rows []sandboxRow
	err := s.db.WithContext(ctx).
		Where("node = ? AND state IN ? AND deadline IS NOT NULL AND deadline < ?", node, liveStates, dbTime(now)).
		Order("deadline ASC, id ASC").
		Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list expired sandboxes of node %q: %w", node, err)
	}
	return s.sandboxesToCore(rows)
}

// ListNodeSandboxes returns the live sandboxes of every tenant on node,
// oldest first.
func (s *Store) ListNodeSandboxes(ctx context.Context, node string) ([]*core.Sandbox, error) {
	var rows []sandboxRow
	err := s.db.WithContext(ctx).
		Where("node = ? AND state IN ?", node, liveStates).
		Order("created_at ASC, id ASC").
		Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list sandboxes of node %q: %w", node, err)
	}
	return s.sandboxesToCore(rows)
}

// CountSnapshotUsers returns how many live sandboxes (of any tenant) were
// started from snapshotID.
func (s *Store) CountSnapshotUsers(ctx context.Context, snapshotID string) (int, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&sandboxRow{}).
		Where("snapshot_id = ? AND state IN ?", snapshotID, liveStates).
		Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count live sandboxes of snapshot %s: %w", snapshotID, err)
	}
	return int(n), nil
}

// CountNodeSandboxes returns how many live sandboxes (of any tenant) node
// holds in each state; states without any are absent. It reads only the
// (node, state) index.
func (s *Store) CountNodeSandboxes(ctx context.Context, node string) (map[core.SandboxState]int, error) {
	var rows []struct {
		State string
		N     int64
	}
	err := s.db.WithContext(ctx).Model(&sandboxRow{}).
		Select("state, COUNT(*) AS n").
		Where("node = ? AND state IN ?", node, liveStates).
		Group("state").
		Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("count sandboxes of node %q: %w", node, err)
	}
	out := make(map[core.SandboxState]int, len(rows))
	for _, r := range rows {
		out[core.SandboxState(r.State)] = int(r.N)
	}
	return out, nil
}

func (s *Store) sandboxesToCore(rows []sandboxRow) ([]*core.Sandbox, error) {
	out := make([]*core.Sandbox, len(rows))
	for i := range rows {
		b, err := s.sandboxToCore(&rows[i])
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
