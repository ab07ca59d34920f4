package envd

import (
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// stat is filesystem.Filesystem/Stat (files.getInfo; files.exists turns
// not_found into false).
func (a *API) stat(c *gin.Context) {
	fsCall(a, c, func(fs *core.Files, req pathRequest) (any, error) {
		info, err := fs.Stat(ctx(c), req.Path)
		if err != nil {
			return nil, err
		}
		return entryResponse{Entry: entryOf(info)}, nil
	})
}
