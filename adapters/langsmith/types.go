package langsmith

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// snapshotJSON is LangSmith's SnapshotResponse.
type snapshotJSON struct {
	ID                      string `json:"id"`
	Name                    string `json:"name"`
	Status                  string `json:"status"`
	StatusMessage           string `json:"status_message,omitempty"`
	DockerImage             string `json:"docker_image,omitempty"`
	ImageDigest             string `json:"image_digest,omitempty"`
	RegistryID              string `json:"registry_id,omitempty"`
	SourceSandboxID         string `json:"source_sandbox_id,omitempty"`
	FSCapacityBytes         int64  `json:"fs_capacity_bytes"`
	FSUsedBytes             *int64 `json:"fs_used_bytes,omitempty"`
	MemorySnapshotSizeBytes *int64 `json:"memory_snapshot_size_bytes,omitempty"`
	CreatedBy               string `json:"created_by,omitempty"`
	CreatedAt               string `json:"created_at"`
	UpdatedAt               string `json:"updated_at"`
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func toSnapshotJSON(s *core.Snapshot) snapshotJSON {
	out := snapshotJSON{
		ID: s.ID, Name: s.Name, Status: string(s.Status), StatusMessage: s.StatusMessage,
		DockerImage: s.DockerImage, ImageDigest: s.ImageDigest, RegistryID: s.RegistryID,
		SourceSandboxID: s.SourceSandboxID, FSCapacityBytes: s.FSCapacityBytes,
		MemorySnapshotSizeBytes: s.MemorySnapshotSizeBytes, CreatedBy: s.CreatedBy,
		CreatedAt: timestamp(s.CreatedAt), UpdatedAt: timestamp(s.UpdatedAt),
	}
	if s.Status == core.SnapshotReady {
		used := s.FSUsedBytes
		out.FSUsedBytes = &used
	}
	return out
}

// registryJSON is LangSmith's RegistryResponse; it never carries the password.
type registryJSON struct {
	ID                   string  `json:"id"`
	Name                 string  `json:"name"`
	URL                  string  `json:"url"`
	Username             string  `json:"username,omitempty"`
	AuthType             string  `json:"auth_type"`
	AWSRoleARN           *string `json:"aws_role_arn"`
	Provider             string  `json:"provider"`
	RepositorySearchMode string  `json:"repository_search_mode"`
	CreatedAt            string  `json:"created_at"`
	CreatedBy            string  `json:"created_by,omitempty"`
	UpdatedAt            string  `json:"updated_at"`
	UpdatedBy            string  `json:"updated_by,omitempty"`
}

func toRegistryJSON(r *core.Registry) registryJSON {
	return registryJSON{
		ID: r.ID, Name: r.Name, URL: r.URL, Username: r.Username, AuthType: r.AuthType,
		Provider: "DOCKER_REGISTRY", RepositorySearchMode: "NONE",
		CreatedAt: timestamp(r.CreatedAt), CreatedBy: r.CreatedBy,
		UpdatedAt: timestamp(r.UpdatedAt), UpdatedBy: r.CreatedBy,
	}
}

// page is the list envelope: the hand-written SDK clients read the vendor
// key ("snapshots", "registries"), Stainless reads items + next_cursor, and
// offset is the deprecated next offset (0 when done).
func page[T any](c *gin.Context, key string, items []T, offset, limit int) {
	next := 0
	if len(items) == limit {
		next = offset + limit
	}
	var cursor *string
	if next > 0 {
		s := strconv.Itoa(next)
		cursor = &s
	}
	if items == nil {
		items = []T{}
	}
	c.JSON(200, gin.H{key: items, "items": items, "next_cursor": cursor, "offset": next})
}

// bind decodes a JSON body. Validation has already checked its shape; this
// still refuses what it cannot decode when validation is off.
func bind(c *gin.Context, v any) error {
	dec := json.NewDecoder(c.Request.Body)
	if err := dec.Decode(v); err != nil {
		return core.WithCause(core.ErrInvalidArgument, err, "request body is not valid JSON for this operation: %v", err)
	}
	return nil
}

// listParams reads limit/offset (or Stainless page_size/cursor).
func listParams(c *gin.Context) (limit, offset int, err error) {
	atoi := func(name string) (int, error) {
		v := c.Query(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, core.Errorf(core.ErrInvalidArgument, "query parameter %q must be an integer, got %q", name, v)
		}
		return n, nil
	}
	if limit, err = atoi("limit"); err != nil {
		return
	}
	if limit == 0 {
		if limit, err = atoi("page_size"); err != nil {
			return
		}
	}
	if offset, err = atoi("offset"); err != nil {
		return
	}
	if offset == 0 {
		offset, err = atoi("cursor")
	}
	return
}

// maxSeconds is the most seconds a time.Duration holds (about 292 years).
const maxSeconds = math.MaxInt64 / int64(time.Second)

// secondsField converts a count of seconds from field to a duration. Multiplying
// a larger count wraps around, to a negative duration or, worse, a short
// positive one that would be stored as the box's deadline.
func secondsField(field string, n int64) (time.Duration, error) {
	if n < 0 || n > maxSeconds {
		return 0, core.Errorf(core.ErrInvalidArgument, "%s must be between 0 and %d, got %d", field, maxSeconds, n)
	}
	return time.Duration(n) * time.Second, nil
}
