package envd

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// health is GET /health: open to all, 204 while the sandbox runs and 502
// (the gateway's answer) when it does not. The SDKs' isRunning() and their
// handling of dropped connections decide "sandbox gone" on that 502. A
// token is not needed; a wrong one only says the sandbox exists.
func (a *API) health(c *gin.Context) {
	id := c.GetString(sandboxKey)
	if _, err := a.dp.OpenByToken(ctx(c), id, c.GetHeader("X-Access-Token")); err != nil && core.KindOf(err) != core.ErrUnauthenticated {
		a.fail(c, gatewayError(id, err))
		return
	}
	c.Status(http.StatusNoContent)
}
