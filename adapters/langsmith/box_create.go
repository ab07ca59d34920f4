package langsmith

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

type createBoxBody struct {
	WaitForReady   *bool             `json:"wait_for_ready"`
	Timeout        int               `json:"timeout"`
	SnapshotID     string            `json:"snapshot_id"`
	SnapshotName   string            `json:"snapshot_name"`
	Snapshot       string            `json:"snapshot"`
	Name           string            `json:"name"`
	IdleTTLSeconds *int              `json:"idle_ttl_seconds"`
	VCPUs          int               `json:"vcpus"`
	MemBytes       int64             `json:"mem_bytes"`
	FSCapacity     int64             `json:"fs_capacity_bytes"`
	EnvVars        map[string]string `json:"env_vars"`
	Labels         map[string]string `json:"labels"`
}

func (a *API) createBox(c *gin.Context) {
	var body createBoxBody
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	ref, err := oneSnapshotRef(body)
	if err != nil {
		a.writeError(c, err)
		return
	}
	req := core.CreateSandboxRequest{
		SnapshotRef: ref, Name: body.Name, VCPUs: body.VCPUs, MemoryBytes: body.MemBytes,
		Env: body.EnvVars, Metadata: body.Labels, WaitForSnapshot: time.Duration(body.Timeout) * time.Second,
		DiskBytes: body.FSCapacity,
	}
	// Idle TTL: the box is stopped (frozen) when it runs out; 0 = never.
	if body.IdleTTLSeconds != nil && *body.IdleTTLSeconds > 0 {
		ttl, err := secondsField("idle_ttl_seconds", int64(*body.IdleTTLSeconds))
		if err != nil {
			a.writeError(c, err)
			return
		}
		req.Timeout, req.OnTimeout = ttl, core.TimeoutPause
	}
	sb, err := a.sandboxes.Create(ctx(c), req)
	if err != nil {
		a.writeCreateError(c, err)
		return
	}
	c.JSON(http.StatusCreated, a.toBoxJSON(c, sb))
}

func oneSnapshotRef(b createBoxBody) (string, error) {
	var refs []string
	for _, r := range []string{b.SnapshotID, b.SnapshotName, b.Snapshot} {
		if r != "" {
			refs = append(refs, r)
		}
	}
	if len(refs) > 1 {
		return "", core.Errorf(core.ErrInvalidArgument, "give at most one of snapshot_id, snapshot_name and snapshot")
	}
	if len(refs) == 0 {
		return "", nil
	}
	return refs[0], nil
}

// writeCreateError answers box-create failures the way the SDK reads them:
// a snapshot that cannot be used is 422 with an error type (the SDK raises
// its creation error), a start failure is 503.
func (a *API) writeCreateError(c *gin.Context, err error) {
	var token string
	status := 0
	switch core.KindOf(err) {
	case core.ErrFailedPrecondition:
		status, token = http.StatusUnprocessableEntity, "SnapshotNotReady"
	case core.ErrUnavailable:
		status, token = http.StatusServiceUnavailable, "Unschedulable"
	case core.ErrNotFound:
		status, token = http.StatusNotFound, "NotFound"
	}
	if status == 0 {
		a.writeError(c, err)
		return
	}
	c.AbortWithStatusJSON(status, errorBody{Detail: errorDetail{Error: token, ErrorID: edge.RequestID(c), Message: core.PublicMessage(err)}})
}
