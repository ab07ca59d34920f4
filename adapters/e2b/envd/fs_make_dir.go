package envd

import (
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// makeDir is filesystem.Filesystem/MakeDir (files.makeDir). An existing
// directory is already_exists, as in envd: the SDK returns false for it.
func (a *API) makeDir(c *gin.Context) {
	fsCall(a, c, func(fs *core.Files, req pathRequest) (any, error) {
		info, created, err := fs.MakeDir(ctx(c), req.Path)
		if err != nil {
			return nil, err
		}
		if !created {
			path := info.Path
			if path == "" {
				path = req.Path
			}
			return nil, core.Errorf(core.ErrAlreadyExists, "directory '%s' already exists", path)
		}
		return entryResponse{Entry: entryOf(info)}, nil
	})
}
