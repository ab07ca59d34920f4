package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

func (a *API) createRegistry(c *gin.Context) {
	var body api.SandboxesCreateRegistryPayload
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	if err := awsRoleUnsupported(body.AwsRoleArn); err != nil {
		a.writeError(c, err)
		return
	}
	reg, err := a.registries.Create(ctx(c), core.Registry{
		Name: body.Name, URL: body.Url, Username: deref(body.Username),
		Password: deref(body.Password), AuthType: string(deref(body.AuthType)),
	})
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, toRegistry(reg))
}

// awsRoleUnsupported refuses an AWS role: snapgate pulls with a username
// and password only (core refuses auth_type AWS_ROLE the same way).
func awsRoleUnsupported(arn *string) error {
	if deref(arn) != "" {
		return core.Errorf(core.ErrInvalidArgument, "aws_role_arn: AWS role authentication is not supported; use auth_type DOCKER_CONFIG with a username and password")
	}
	return nil
}
