package langsmith

import (
	"math"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// opt is s as an optional wire field: absent when empty.
func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// labels is never null on the wire: the SDKs read it as an object.
func labels(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func toSnapshot(s *core.Snapshot) api.SandboxesSnapshotResponse {
	out := api.SandboxesSnapshotResponse{
		Id: s.ID, Name: s.Name, Status: api.SandboxesSnapshotResponseStatus(s.Status), StatusMessage: opt(s.StatusMessage),
		DockerImage: opt(s.DockerImage), ImageDigest: opt(s.ImageDigest), RegistryId: opt(s.RegistryID),
		SourceSandboxId: opt(s.SourceSandboxID), FsCapacityBytes: s.FSCapacityBytes,
		MemorySnapshotSizeBytes: s.MemorySnapshotSizeBytes, CreatedBy: opt(s.CreatedBy),
		Description: opt(s.Description), Labels: labels(s.Labels),
		CreatedAt: timestamp(s.CreatedAt), UpdatedAt: timestamp(s.UpdatedAt),
	}
	if s.Status == core.SnapshotReady {
		used := s.FSUsedBytes
		out.FsUsedBytes = &used
	}
	return out
}

// toRegistry renders a registry; it never carries the password.
func toRegistry(r *core.Registry) api.SandboxesRegistryResponse {
	return api.SandboxesRegistryResponse{
		Id: r.ID, Name: r.Name, Url: r.URL, Username: opt(r.Username), AuthType: r.AuthType,
		Provider: "DOCKER_REGISTRY", RepositorySearchMode: "NONE",
		CreatedAt: timestamp(r.CreatedAt), CreatedBy: opt(r.CreatedBy),
		UpdatedAt: timestamp(r.UpdatedAt), UpdatedBy: opt(r.CreatedBy),
	}
}

// pageCursor is the list envelope's paging: the hand-written SDK clients
// read the vendor key ("snapshots", "sandboxes", "registries"), Stainless
// reads items + next_cursor, and offset is the deprecated next offset (0
// when done). A full page may have a next one.
func pageCursor(n, offset, limit int) (next int, cursor *string) {
	if n == limit {
		next = offset + limit
		s := strconv.Itoa(next)
		cursor = &s
	}
	return next, cursor
}

// bind decodes a required JSON body (edge.Bind).
func bind(c *gin.Context, v any) error { return edge.Bind(c, v, false) }

// bindOptional decodes a JSON body that may be absent (the SDKs send {}
// but other clients may send nothing).
func bindOptional(c *gin.Context, v any) error { return edge.Bind(c, v, true) }

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

// optSeconds is secondsField for an optional field: nil stays nil.
func optSeconds(field string, n *int) (*time.Duration, error) {
	if n == nil {
		return nil, nil
	}
	d, err := secondsField(field, int64(*n))
	return &d, err
}
