package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

type grepBody struct {
	Pattern string `json:"pattern"` // literal text, not a regular expression
	Path    string `json:"path"`
	Glob    string `json:"glob"`
	Limit   int    `json:"limit"`
}

type grepMatchJSON struct {
	Path string `json:"path"`
	Line int    `json:"line"`
	Text string `json:"text"`
}

// grep finds lines containing a literal text (POST /grep).
func (a *API) grep(c *gin.Context) {
	var body grepBody
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
	found, truncated, err := files.Grep(ctx(c), body.Path, body.Pattern, body.Glob, core.SearchOptions{Limit: body.Limit})
	if err != nil {
		a.writeError(c, dataplaneErr(opRead, err))
		return
	}
	matches := make([]grepMatchJSON, 0, len(found))
	for _, m := range found {
		matches = append(matches, grepMatchJSON(m))
	}
	c.JSON(http.StatusOK, gin.H{"matches": matches, "truncated": truncated})
}
