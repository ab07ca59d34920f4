package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

func (a *API) getBox(c *gin.Context) {
	sb, err := a.sandboxes.Get(ctx(c), c.Param("box_name"))
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, a.toBoxJSON(c, sb))
}

func (a *API) getBoxStatus(c *gin.Context) {
	sb, err := a.sandboxes.Get(ctx(c), c.Param("box_name"))
	if err != nil {
		a.writeError(c, err)
		return
	}
	out := gin.H{"status": boxStatus[sb.State]}
	if sb.StatusMessage != "" {
		out["status_message"] = sb.StatusMessage
	}
	c.JSON(http.StatusOK, out)
}
