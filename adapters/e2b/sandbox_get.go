package e2b

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

func (a *API) getSandbox(c *gin.Context) {
	sb, err := a.sandboxes.Get(ctx(c), c.Param("sandboxID"))
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, a.toDetail(c, sb))
}
