package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

type updateBoxBody struct {
	Name   *string           `json:"name"`
	Labels map[string]string `json:"labels"`
}

func (a *API) updateBox(c *gin.Context) {
	var body updateBoxBody
	if c.Request.ContentLength != 0 {
		if err := bind(c, &body); err != nil {
			a.writeError(c, err)
			return
		}
	}
	sb, err := a.sandboxes.Update(ctx(c), c.Param("box_name"), core.SandboxUpdate{Name: body.Name, Metadata: body.Labels})
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, a.toBoxJSON(c, sb))
}
