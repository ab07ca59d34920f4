package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// startBox resumes a stopped (frozen) box; a running one is left as is.
func (a *API) startBox(c *gin.Context) {
	sb, _, err := a.sandboxes.Resume(ctx(c), c.Param("box_name"), 0)
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, a.toBox(c, sb))
}

// stopBox freezes a box: its processes and files are kept until start.
func (a *API) stopBox(c *gin.Context) {
	if err := a.sandboxes.Pause(ctx(c), c.Param("box_name")); err != nil {
		a.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
