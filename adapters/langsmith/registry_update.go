package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

func (a *API) updateRegistry(c *gin.Context) {
	var body api.SandboxesUpdateRegistryPayload
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	if err := awsRoleUnsupported(body.AwsRoleArn); err != nil {
		a.writeError(c, err)
		return
	}
	var authType *string
	if body.AuthType != nil {
		t := string(*body.AuthType)
		authType = &t
	}
	reg, err := a.registries.Update(ctx(c), c.Param("registry_name"), core.RegistryPatch{
		Name: body.Name, URL: body.Url, Username: body.Username, Password: body.Password, AuthType: authType,
	})
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toRegistry(reg))
}
