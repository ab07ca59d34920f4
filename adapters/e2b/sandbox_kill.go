package e2b

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// killSandbox answers 204, or 404 (the SDK's kill then returns false).
func (a *API) killSandbox(c *gin.Context) {
	if err := a.sandboxes.Kill(ctx(c), c.Param("sandboxID")); err != nil {
		a.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
