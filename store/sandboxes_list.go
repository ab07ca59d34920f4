package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"gorm.io/gorm"

	"github.com/snapgate/snapgate/core"
)

// ListSandboxes returns the tenant's sandboxes in f.States (every live
// state when empty) whose metadata holds every pair of f.Metadata and
// every key of f.MetadataKeys, started from f.SnapshotID and after
// f.StartedAfter when those are set, in f.Sort's order then (created_at,
// id), descending unless f.Ascending, continuing strictly past the
// (AfterCreated, AfterID) cursor when AfterCreated is set (core allows a
// cursor only with the creation sort). Limit 0 means no limit.
func (s *Store) ListSandboxes(ctx context.Context, tenantID string, f core.SandboxFilter) ([]*core.Sandbox, error) {
	states := liveStates
	if len(f.States) > 0 {
		states = make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
	}
	q := s.db.WithContext(ctx).Scopes(inTenant(tenantID), page(f.Limit, 0)).Where("state IN ?", states)
	cmp := "<"
	if f.Ascending {
		cmp = ">"
	}
	if !f.AfterCreated.IsZero() {
		t := dbTime(f.AfterCreated)
		q = q.Where("(created_at "+cmp+" ? OR (created_at = ? AND id "+cmp+" ?))", t, t, f.AfterID)
	}
	if f.SnapshotID != "" {
		q = q.Where("snapshot_id = ?", f.SnapshotID)
	}
	if !f.StartedAfter.IsZero() {
		q = q.Where("COALESCE(started_at, created_at) > ?", dbTime(f.StartedAfter))
	}
	keys := make(map[string]string, len(f.MetadataKeys))
	for _, k := range f.MetadataKeys {
		keys[k] = ""
	}
	if checkMap("metadata", f.Metadata) != nil || checkMap("metadata", keys) != nil {
		return []*core.Sandbox{}, nil // no stored metadata can match
	}
	q, err := s.metadataHas(q, f.Metadata)
	if err != nil {
		return nil, err
	}
	q = s.metadataHasKeys(q, f.MetadataKeys)
	order, err := sandboxOrder(f.Sort, f.Ascending)
	if err != nil {
		return nil, err
	}
	var rows []sandboxRow
	if err := q.Order(order).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list sandboxes of tenant %q: %w", tenantID, err)
	}
	return s.sandboxesToCore(rows)
}

// sortKeys are the ORDER BY expressions of each sort before (created_at,
// id). The paused time is updated_at of a paused row (what LangSmith
// reports as stopped_at) and NULL for the rest, which NULLS LAST keeps at
// the end in both directions on both databases.
var sortKeys = map[core.SandboxSort]string{
	core.SortCreated:         "",
	core.SortName:            "name",
	core.SortState:           "CASE state WHEN 'starting' THEN 0 WHEN 'running' THEN 1 WHEN 'paused' THEN 2 ELSE 3 END",
	core.SortPaused:          "CASE WHEN state = 'paused' THEN updated_at END",
	core.SortIdleTTL:         "idle_ttl_seconds",
	core.SortDeleteAfterStop: "delete_after_stop_seconds",
}

func sandboxOrder(sort core.SandboxSort, asc bool) (string, error) {
	key, ok := sortKeys[sort]
	if !ok {
		return "", core.Errorf(core.ErrInvalidArgument, "unknown sort %q", sort)
	}
	dir := " DESC"
	if asc {
		dir = " ASC"
	}
	order := "created_at" + dir + ", id" + dir
	if key != "" {
		order = key + dir + " NULLS LAST, " + order
	}
	return order, nil
}

// metadataHas keeps rows whose metadata object has every key of want with
// exactly its value. Postgres tests containment of the whole filter at
// once; SQLite looks up each pair with json_each, which needs no quoting
// of keys in JSON paths.
func (s *Store) metadataHas(q *gorm.DB, want map[string]string) (*gorm.DB, error) {
	if len(want) == 0 {
		return q, nil
	}
	if s.postgres {
		b, err := json.Marshal(want)
		if err != nil {
			return nil, fmt.Errorf("encode metadata filter: %w", err)
		}
		return q.Where("CAST(metadata AS jsonb) @> CAST(? AS jsonb)", string(b)), nil
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a stable statement text
	for _, k := range keys {
		q = q.Where("EXISTS (SELECT 1 FROM json_each(sandboxes.metadata) AS m WHERE m.key = ? AND m.type = 'text' AND m.value = ?)", k, want[k])
	}
	return q, nil
}

// metadataHasKeys keeps rows whose metadata object has every key of keys.
// Postgres's jsonb ? operator would collide with gorm's placeholder, so
// the key is looked up with ->.
func (s *Store) metadataHasKeys(q *gorm.DB, keys []string) *gorm.DB {
	for _, k := range keys {
		if s.postgres {
			q = q.Where("(CAST(metadata AS jsonb) -> CAST(? AS text)) IS NOT NULL", k)
		} else {
			q = q.Where("EXISTS (SELECT 1 FROM json_each(sandboxes.metadata) AS m WHERE m.key = ?)", k)
		}
	}
	return q
}
