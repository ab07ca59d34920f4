package e2b

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/e2b/api"
)

// setSandboxTimeout moves the deadline to now+timeout; it may shorten it.
func (a *API) setSandboxTimeout(c *gin.Context) {
	var body api.SandboxTimeoutRequest
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	// timeout is required: the validator refuses a body without, and 0
	// (what a missing one decodes to without validation) is too short.
	timeout, err := timeoutOr(&body.Timeout, 0)
	if err != nil {
		a.writeError(c, err)
		return
	}
	if _, err := a.sandboxes.SetTimeout(ctx(c), c.Param("sandboxID"), timeout); err != nil {
		a.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
