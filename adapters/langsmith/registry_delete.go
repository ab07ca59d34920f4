package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

func (a *API) deleteRegistry(c *gin.Context) {
	if err := a.registries.Delete(ctx(c), c.Param("registry_name")); err != nil {
		a.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
