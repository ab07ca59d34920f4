package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

func (a *API) captureBox(c *gin.Context) {
	var body api.SandboxesCaptureSnapshotPayload
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	if err := captureUnsupported(body); err != nil {
		a.writeError(c, err)
		return
	}
	tag := deref(body.Tag)
	if tag == "" {
		tag = core.DefaultTag
	}
	snap, err := a.sandboxes.Capture(ctx(c), c.Param("box_name"), core.CaptureSnapshotRequest{
		Name: body.Name, Tag: tag, Memory: deref(body.IncludeMemory), FSCapacityBytes: deref(body.FsCapacityBytes),
		Description: deref(body.Description), Labels: deref(body.Labels),
	})
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, toSnapshot(snap))
}

// captureUnsupported refuses what a capture here cannot do rather than
// drop it.
func captureUnsupported(body api.SandboxesCaptureSnapshotPayload) error {
	switch {
	case deref(body.Checkpoint) != "":
		return core.Errorf(core.ErrFailedPrecondition, "checkpoint %q not found: this host keeps no checkpoints (memory state needs CRIU, unavailable here)", *body.Checkpoint)
	case deref(body.DockerImage) != "":
		return core.Errorf(core.ErrInvalidArgument, "docker_image: exporting an image built inside the box is not supported; capture the box's filesystem without docker_image")
	case len(deref(body.RunConfig)) > 0:
		return errSnapshotRunConfig
	}
	return nil
}

// errSnapshotRunConfig refuses a snapshot's default run_config: commands
// run as the box's user, in its home, with its env_vars; run_config is
// honoured per command (execute) only.
var errSnapshotRunConfig = core.Errorf(core.ErrInvalidArgument, "run_config: a snapshot's default run configuration is not supported; pass run_config with each command instead")
