package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

type captureBody struct {
	Name            string `json:"name"`
	IncludeMemory   bool   `json:"include_memory"`
	Checkpoint      string `json:"checkpoint"`
	DockerImage     string `json:"docker_image"`
	FSCapacityBytes int64  `json:"fs_capacity_bytes"`
}

func (a *API) captureBox(c *gin.Context) {
	var body captureBody
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	switch {
	case body.Checkpoint != "":
		a.writeError(c, core.Errorf(core.ErrFailedPrecondition, "checkpoint %q not found: this host keeps no checkpoints (memory state needs CRIU, unavailable here)", body.Checkpoint))
		return
	case body.DockerImage != "":
		a.writeError(c, core.Errorf(core.ErrInvalidArgument, "docker_image: exporting an image built inside the box is not supported; capture the box's filesystem without docker_image"))
		return
	}
	snap, err := a.sandboxes.Capture(ctx(c), c.Param("box_name"), core.CaptureSnapshotRequest{
		Name: body.Name, Tag: "latest", Memory: body.IncludeMemory, FSCapacityBytes: body.FSCapacityBytes,
	})
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, toSnapshotJSON(snap))
}
