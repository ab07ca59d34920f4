package e2b

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// connectBody is ConnectSandbox (v1, timeout required) and
// ConnectSandboxV2 (timeout defaults to 300 seconds).
type connectBody struct {
	Timeout *int32 `json:"timeout"`
	Memory  *bool  `json:"memory"`
}

func (a *API) connectSandboxV1(c *gin.Context) {
	var body connectBody
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	if body.Timeout == nil {
		a.writeError(c, errTimeoutRequired)
		return
	}
	a.connect(c, body)
}

func (a *API) connectSandboxV2(c *gin.Context) {
	var body connectBody
	if err := bindOptional(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	a.connect(c, body)
}

// connect resumes a paused sandbox (201) or extends a running one's
// timeout, never shortening it (200).
func (a *API) connect(c *gin.Context, body connectBody) {
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
	c.JSON(st, a.toSandboxJSON(c, sb))
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
