package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

func (a *API) getRegistry(c *gin.Context) {
	reg, err := a.registries.Get(ctx(c), c.Param("registry_name"))
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toRegistry(reg))
}
