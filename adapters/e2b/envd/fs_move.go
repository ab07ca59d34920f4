package envd

import (
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// move is filesystem.Filesystem/Move (files.rename).
func (a *API) move(c *gin.Context) {
	fsCall(a, c, func(fs *core.Files, req moveRequest) (any, error) {
		info, err := fs.Move(ctx(c), req.Source, req.Destination)
		if err != nil {
			return nil, err
		}
		return entryResponse{Entry: entryOf(info)}, nil
	})
}
