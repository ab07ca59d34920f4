package e2b

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// deleteTemplate deletes a snapshot named any way E2B names one: id,
// "<id>:tag", name, "name:tag", "namespace/name:tag". 404 makes the SDK's
// deleteSnapshot return false.
func (a *API) deleteTemplate(c *gin.Context) {
	snap, err := a.snapshots.Lookup(ctx(c), c.Param("templateID"))
	if err != nil {
		a.writeError(c, err)
		return
	}
	if err := a.snapshots.Delete(ctx(c), snap.ID); err != nil {
		a.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
