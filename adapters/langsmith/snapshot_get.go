package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

func (a *API) getSnapshot(c *gin.Context) {
	snap, err := a.snapshots.Get(ctx(c), c.Param("snapshot_ref"))
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toSnapshot(snap))
}
