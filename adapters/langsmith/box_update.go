package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

func (a *API) updateBox(c *gin.Context) {
	var body api.SandboxesUpdateBoxPayload
	if err := bindOptional(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	u := core.SandboxUpdate{Name: body.Name, Metadata: deref(body.Labels)}
	var err error
	if u.IdleTTL, err = optSeconds("idle_ttl_seconds", body.IdleTtlSeconds); err != nil {
		a.writeError(c, err)
		return
	}
	if u.DeleteAfterStop, err = optSeconds("delete_after_stop_seconds", body.DeleteAfterStopSeconds); err != nil {
		a.writeError(c, err)
		return
	}
	sb, err := a.sandboxes.Update(ctx(c), c.Param("box_name"), u)
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, a.toBox(c, sb))
}
