package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

func (a *API) deleteSnapshot(c *gin.Context) {
	if err := a.snapshots.Delete(ctx(c), c.Param("snapshot_ref")); err != nil {
		a.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
