package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

// glob finds entries by pattern (POST /glob; the SDK's ls is glob "*").
func (a *API) glob(c *gin.Context) {
	var body api.DataplaneGlobJSONRequestBody
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
	found, truncated, err := files.Glob(ctx(c), body.Path, body.Pattern, core.SearchOptions{Limit: deref(body.Limit)})
	if err != nil {
		a.writeError(c, dataplaneErr(opRead, err))
		return
	}
	matches := make([]api.DataplaneFileInfo, 0, len(found))
	for _, f := range found {
		m := api.DataplaneFileInfo{Path: f.Path, IsDir: f.Type == core.FileTypeDir, SizeBytes: f.Size}
		if !f.ModTime.IsZero() {
			m.ModifiedAt = opt(timestamp(f.ModTime))
		}
		matches = append(matches, m)
	}
	c.JSON(http.StatusOK, api.DataplaneGlobResult{Matches: matches, Truncated: truncated})
}
