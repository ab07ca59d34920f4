package langsmith

import (
	"github.com/gin-gonic/gin"

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
	out := make([]registryJSON, 0, len(regs))
	for _, r := range regs {
		out = append(out, toRegistryJSON(r))
	}
	if limit == 0 {
		limit = core.DefaultLimit
	}
	page(c, "registries", out, offset, limit)
}
