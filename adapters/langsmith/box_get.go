package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
)

func (a *API) getBox(c *gin.Context) {
	sb, err := a.sandboxes.Get(ctx(c), c.Param("box_name"))
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, a.toBox(c, sb))
}

func (a *API) getBoxStatus(c *gin.Context) {
	sb, err := a.sandboxes.Get(ctx(c), c.Param("box_name"))
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, api.SandboxesBoxStatusResponse{
		Status: api.SandboxesBoxStatusResponseStatus(boxStatus[sb.State]), StatusMessage: opt(sb.StatusMessage),
	})
}
