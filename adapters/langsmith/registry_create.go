package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

type registryBody struct {
	Name     *string `json:"name"`
	URL      *string `json:"url"`
	Username *string `json:"username"`
	Password *string `json:"password"`
	AuthType *string `json:"auth_type"`
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (a *API) createRegistry(c *gin.Context) {
	var body registryBody
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	reg, err := a.registries.Create(ctx(c), core.Registry{
		Name: deref(body.Name), URL: deref(body.URL), Username: deref(body.Username),
		Password: deref(body.Password), AuthType: deref(body.AuthType),
	})
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, toRegistryJSON(reg))
}
