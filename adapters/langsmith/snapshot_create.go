package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

type createSnapshotBody struct {
	Name            string `json:"name"`
	DockerImage     string `json:"docker_image"`
	FSCapacityBytes int64  `json:"fs_capacity_bytes"`
	RegistryID      string `json:"registry_id"`
}

func (a *API) createSnapshot(c *gin.Context) {
	var body createSnapshotBody
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	snap, err := a.snapshots.Create(ctx(c), core.CreateSnapshotRequest{
		Name: body.Name, DockerImage: body.DockerImage, FSCapacityBytes: body.FSCapacityBytes, RegistryID: body.RegistryID,
	})
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, toSnapshotJSON(snap))
}
