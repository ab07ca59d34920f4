package envd

import (
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// remove is filesystem.Filesystem/Remove (files.remove): recursive; a
// missing path is success.
func (a *API) remove(c *gin.Context) {
	fsCall(a, c, func(fs *core.Files, req pathRequest) (any, error) {
		return struct{}{}, fs.Remove(ctx(c), req.Path)
	})
}
