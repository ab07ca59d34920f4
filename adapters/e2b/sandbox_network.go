package e2b

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/e2b/api"
)

// updateNetwork replaces a sandbox's egress rules (the SDK's
// updateNetwork); omitted fields are cleared, as in E2B.
func (a *API) updateNetwork(c *gin.Context) {
	var body api.SandboxNetworkUpdateConfig
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	p, err := egress{allowInternet: body.AllowInternetAccess, allowOut: body.AllowOut, denyOut: body.DenyOut,
		proxy: body.EgressProxy, rules: body.Rules}.policy("")
	if err != nil {
		a.writeError(c, err)
		return
	}
	if _, err := a.sandboxes.UpdateNetwork(ctx(c), c.Param("sandboxID"), p); err != nil {
		a.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
