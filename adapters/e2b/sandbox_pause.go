package e2b

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/e2b/api"
)

// pauseSandbox answers 204, or 409 when the sandbox is not running (the
// SDK's pause then returns false).
func (a *API) pauseSandbox(c *gin.Context) {
	var body api.SandboxPauseRequest
	if err := bindOptional(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	if err := memoryKept(body.Memory); err != nil {
		a.writeError(c, err)
		return
	}
	if err := a.sandboxes.Pause(ctx(c), c.Param("sandboxID")); err != nil {
		a.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
