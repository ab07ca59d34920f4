package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

func (a *API) listRegistries(c *gin.Context) {
	limit, offset, err := listParams(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	regs, err := a.registries.List(ctx(c), core.RegistryFilter{NameContains: c.Query("name_contains"), Limit: limit, Offset: offset})
	if err != nil {
		a.writeError(c, err)
		return
	}
	out := make([]api.SandboxesRegistryResponse, 0, len(regs))
	for _, r := range regs {
		out = append(out, toRegistry(r))
	}
	if limit == 0 {
		limit = core.DefaultLimit
	}
	next, cursor := pageCursor(len(out), offset, limit)
	c.JSON(http.StatusOK, api.SandboxesRegistryList{Registries: out, Items: out, NextCursor: cursor, Offset: next})
}
