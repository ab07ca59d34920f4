package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

func (a *API) createSnapshot(c *gin.Context) {
	var body api.SandboxesCreateSnapshotPayload
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	if len(deref(body.RunConfig)) > 0 {
		a.writeError(c, errSnapshotRunConfig)
		return
	}
	snap, err := a.snapshots.Create(ctx(c), core.CreateSnapshotRequest{
		Name: body.Name, DockerImage: body.DockerImage, FSCapacityBytes: body.FsCapacityBytes,
		RegistryID: deref(body.RegistryId), Tag: deref(body.Tag), Description: deref(body.Description), Labels: deref(body.Labels),
	})
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, toSnapshot(snap))
}
