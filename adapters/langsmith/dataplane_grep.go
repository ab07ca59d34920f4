package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

// grep finds lines containing a literal text (POST /grep).
func (a *API) grep(c *gin.Context) {
	var body api.DataplaneGrepJSONRequestBody // pattern is literal text, not a regular expression
	if err := bind(c, &body); err != nil {
		a.writeError(c, dataplaneErr(opRead, err))
		return
	}
	files, err := a.files(c, opRead)
	if err != nil {
		a.writeError(c, err)
		return
	}
	defer files.Close()
	found, truncated, err := files.Grep(ctx(c), body.Path, body.Pattern, deref(body.Glob), core.SearchOptions{Limit: deref(body.Limit)})
	if err != nil {
		a.writeError(c, dataplaneErr(opRead, err))
		return
	}
	matches := make([]api.DataplaneGrepMatch, 0, len(found))
	for _, m := range found {
		matches = append(matches, api.DataplaneGrepMatch{Path: m.Path, Line: m.Line, Text: m.Text})
	}
	c.JSON(http.StatusOK, api.DataplaneGrepResult{Matches: matches, Truncated: truncated})
}
