package e2b

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/e2b/api"
	"github.com/snapgate/snapgate/core"
)

// resumeSandbox is the deprecated resume: unlike connect it answers 409
// for a sandbox that is not paused; autoPause, when given, sets what the
// sandbox does at its timeout.
func (a *API) resumeSandbox(c *gin.Context) {
	var body api.ResumedSandbox
	if err := bindOptional(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	if err := memoryKept(body.Memory); err != nil {
		a.writeError(c, err)
		return
	}
	timeout, err := timeoutOr(body.Timeout, defaultTimeoutV1)
	if err != nil {
		a.writeError(c, err)
		return
	}
	id := c.Param("sandboxID")
	sb, err := a.sandboxes.Get(ctx(c), id)
	if err != nil {
		a.writeError(c, err)
		return
	}
	if sb.State != core.SandboxPaused {
		a.writeError(c, core.Errorf(core.ErrFailedPrecondition, "sandbox %s is already running", sb.ID))
		return
	}
	sb, _, err = a.sandboxes.Resume(ctx(c), sb.ID, timeout)
	if err != nil {
		a.writeError(c, err)
		return
	}
	if body.AutoPause != nil {
		// What the resumed sandbox does at its timeout from now on.
		action := core.TimeoutKill
		if *body.AutoPause {
			action = core.TimeoutPause
		}
		if sb, err = a.sandboxes.Update(ctx(c), sb.ID, core.SandboxUpdate{OnTimeout: &action}); err != nil {
			a.writeError(c, err)
			return
		}
	}
	c.JSON(http.StatusCreated, a.toSandbox(c, sb))
}
