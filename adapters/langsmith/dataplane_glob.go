package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

type globBody struct {
	Pattern string `json:"pattern"`
	Path    string `json:"path"`
	Limit   int    `json:"limit"`
}

// fileInfoJSON is one glob match (the JS SDK's FileInfo).
type fileInfoJSON struct {
	Path       string `json:"path"`
	IsDir      bool   `json:"is_dir"`
	SizeBytes  int64  `json:"size_bytes"`
	ModifiedAt string `json:"modified_at,omitempty"`
}

// glob finds entries by pattern (POST /glob; the SDK's ls is glob "*").
func (a *API) glob(c *gin.Context) {
	var body globBody
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
	found, truncated, err := files.Glob(ctx(c), body.Path, body.Pattern, core.SearchOptions{Limit: body.Limit})
	if err != nil {
		a.writeError(c, dataplaneErr(opRead, err))
		return
	}
	matches := make([]fileInfoJSON, 0, len(found))
	for _, f := range found {
		m := fileInfoJSON{Path: f.Path, IsDir: f.Type == core.FileTypeDir, SizeBytes: f.Size}
		if !f.ModTime.IsZero() {
			m.ModifiedAt = timestamp(f.ModTime)
		}
		matches = append(matches, m)
	}
	c.JSON(http.StatusOK, gin.H{"matches": matches, "truncated": truncated})
}
