package e2b

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

type timeoutBody struct {
	Timeout *int32 `json:"timeout"`
}

// setSandboxTimeout moves the deadline to now+timeout; it may shorten it.
func (a *API) setSandboxTimeout(c *gin.Context) {
	var body timeoutBody
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	timeout, err := timeoutOr(body.Timeout, 0)
	if err == nil && timeout == 0 {
		err = errTimeoutRequired
	}
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
