package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// noFields is the body of start and stop: the SDKs send {} (or nothing);
// the spec defines no field, so any field is refused.
type noFields struct{}

// startBox resumes a stopped (frozen) box, re-arming its idle TTL; a
// running one is left as is.
func (a *API) startBox(c *gin.Context) {
	if err := bindOptional(c, &noFields{}); err != nil {
		a.writeError(c, err)
		return
	}
	sb, _, err := a.sandboxes.Resume(ctx(c), c.Param("box_name"), 0)
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, a.toBox(c, sb))
}

// stopBox freezes a box: its processes and files are kept until start (or
// its delete-after-stop time).
func (a *API) stopBox(c *gin.Context) {
	if err := bindOptional(c, &noFields{}); err != nil {
		a.writeError(c, err)
		return
	}
	if err := a.sandboxes.Pause(ctx(c), c.Param("box_name")); err != nil {
		a.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
