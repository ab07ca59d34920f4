package langsmith

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

// createBox starts a box and answers once it is ready, whatever
// wait_for_ready says: false only allows an earlier answer, and the SDK
// reads a ready box the same way.
func (a *API) createBox(c *gin.Context) {
	var body api.SandboxesCreateBoxPayload
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	req, err := createBoxRequest(body)
	if err != nil {
		a.writeError(c, err)
		return
	}
	sb, err := a.sandboxes.Create(ctx(c), req)
	if err != nil {
		a.writeCreateError(c, err)
		return
	}
	c.JSON(http.StatusCreated, a.toBox(c, sb))
}

func createBoxRequest(body api.SandboxesCreateBoxPayload) (core.CreateSandboxRequest, error) {
	ref, err := oneSnapshotRef(body)
	if err != nil {
		return core.CreateSandboxRequest{}, err
	}
	req := core.CreateSandboxRequest{
		SnapshotRef: ref, Name: deref(body.Name), VCPUs: deref(body.Vcpus), MemoryBytes: deref(body.MemBytes),
		Env: deref(body.EnvVars), Metadata: deref(body.Labels), DiskBytes: deref(body.FsCapacityBytes),
		WaitForSnapshot: time.Duration(deref(body.Timeout)) * time.Second,
	}
	// Idle TTL: the box is stopped (frozen) when it runs out; 0 = never.
	ttl, err := optSeconds("idle_ttl_seconds", body.IdleTtlSeconds)
	if err != nil {
		return req, err
	}
	req.IdleTTL = deref(ttl)
	// Delete after stop: a stopped box is deleted that long after; 0 = kept.
	das, err := optSeconds("delete_after_stop_seconds", body.DeleteAfterStopSeconds)
	if err != nil {
		return req, err
	}
	req.DeleteAfterStop = deref(das)
	return req, nil
}

func oneSnapshotRef(b api.SandboxesCreateBoxPayload) (string, error) {
	var refs []string
	for _, r := range []*string{b.SnapshotId, b.SnapshotName, b.Snapshot} {
		if deref(r) != "" {
			refs = append(refs, *r)
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
	c.AbortWithStatusJSON(status, errorBody(token, edge.RequestID(c), core.PublicMessage(err)))
}
