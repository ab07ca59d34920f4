package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

func (a *API) updateRegistry(c *gin.Context) {
	var body registryBody
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	reg, err := a.registries.Update(ctx(c), c.Param("registry_name"), core.RegistryPatch{
		Name: body.Name, URL: body.URL, Username: body.Username, Password: body.Password, AuthType: body.AuthType,
	})
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toRegistryJSON(reg))
}
