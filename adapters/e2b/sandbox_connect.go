package e2b

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/e2b/api"
	"github.com/snapgate/snapgate/core"
)

// connectSandboxV1 is ConnectSandbox: timeout is required (the validator
// refuses a body without; without validation 0 is refused as too short).
func (a *API) connectSandboxV1(c *gin.Context) {
	var body api.ConnectSandbox
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	a.connect(c, api.ConnectSandboxV2{Timeout: &body.Timeout, Memory: body.Memory})
}

// connectSandboxV2 is ConnectSandboxV2: timeout defaults to 300 seconds.
func (a *API) connectSandboxV2(c *gin.Context) {
	var body api.ConnectSandboxV2
	if err := bindOptional(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	a.connect(c, body)
}

// connect resumes a paused sandbox (201) or extends a running one's
// timeout, never shortening it (200).
func (a *API) connect(c *gin.Context, body api.ConnectSandboxV2) {
	if err := memoryKept(body.Memory); err != nil {
		a.writeError(c, err)
		return
	}
	timeout, err := timeoutOr(body.Timeout, defaultTimeoutV2)
	if err != nil {
		a.writeError(c, err)
		return
	}
	sb, resumed, err := a.sandboxes.Resume(ctx(c), c.Param("sandboxID"), timeout)
	if err != nil {
		a.writeError(c, err)
		return
	}
	st := http.StatusOK
	if resumed {
		st = http.StatusCreated
	}
	c.JSON(st, a.toSandbox(c, sb))
}

// memoryKept refuses memory: false (a filesystem-only pause, or a cold
// boot on resume): a paused sandbox here is frozen with its memory, and
// E2B's contract is to refuse rather than silently restore memory.
func memoryKept(memory *bool) error {
	if memory != nil && !*memory {
		return core.Errorf(core.ErrInvalidArgument, "memory: false (filesystem-only pause or resume) is not supported; sandboxes always keep their memory")
	}
	return nil
}
