package langsmith

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

// listBoxes pages by offset over the tenant's live boxes.
func (a *API) listBoxes(c *gin.Context) {
	limit, offset, err := listParams(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	if limit == 0 {
		limit = core.DefaultLimit
	}
	all, err := a.sandboxes.List(ctx(c), core.SandboxFilter{})
	if err != nil {
		a.writeError(c, err)
		return
	}
	contains := strings.ToLower(c.Query("name_contains"))
	out := []api.SandboxesBoxResponse{}
	for _, sb := range all {
		if contains != "" && !strings.Contains(strings.ToLower(sb.Name), contains) {
			continue
		}
		out = append(out, a.toBox(c, sb))
	}
	if offset >= len(out) {
		out = out[:0]
	} else {
		out = out[offset:min(len(out), offset+limit)]
	}
	next, cursor := pageCursor(len(out), offset, limit)
	c.JSON(http.StatusOK, api.SandboxesBoxList{Sandboxes: out, Items: out, NextCursor: cursor, Offset: next})
}
