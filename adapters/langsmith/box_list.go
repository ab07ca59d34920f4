package langsmith

import (
	"strings"

	"github.com/gin-gonic/gin"

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
	out := []boxJSON{}
	for _, sb := range all {
		if contains != "" && !strings.Contains(strings.ToLower(sb.Name), contains) {
			continue
		}
		out = append(out, a.toBoxJSON(c, sb))
	}
	if offset >= len(out) {
		out = out[:0]
	} else {
		out = out[offset:min(len(out), offset+limit)]
	}
	page(c, "sandboxes", out, offset, limit)
}
