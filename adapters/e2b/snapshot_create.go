package e2b

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/e2b/api"
	"github.com/snapgate/snapgate/core"
)

// createSnapshot captures a sandbox into a persistent snapshot. A name
// already used gets a new snapshot that takes over its tag, as a repeated
// name is a new build of the same template in E2B.
func (a *API) createSnapshot(c *gin.Context) {
	var body api.SandboxSnapshotRequest
	if err := bindOptional(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	p, err := core.PrincipalFrom(ctx(c))
	if err != nil {
		a.writeError(c, err)
		return
	}
	// The name is E2B's "[namespace/]name[:tag]", which core parses.
	snap, err := a.sandboxes.Capture(ctx(c), c.Param("sandboxID"), core.CaptureSnapshotRequest{
		Name: deref(body.Name), Namespaced: true, Tag: defaultTag, Retag: true,
	})
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, toSnapshotInfo(p.TenantID, snap))
}
