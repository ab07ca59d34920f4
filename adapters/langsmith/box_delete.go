package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

func (a *API) deleteBox(c *gin.Context) {
	if err := a.sandboxes.Kill(ctx(c), c.Param("box_name")); err != nil {
		a.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
