package envd

import (
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// listDir is filesystem.Filesystem/ListDir (files.list): the entries below
// a directory up to depth levels; depth 0 (the proto default) means 1.
func (a *API) listDir(c *gin.Context) {
	fsCall(a, c, func(fs *core.Files, req listDirRequest) (any, error) {
		depth := max(int(req.Depth), 1)
		infos, err := fs.List(ctx(c), req.Path, depth)
		if err != nil {
			return nil, err
		}
		out := listDirResponse{Entries: make([]entryInfo, 0, len(infos))}
		for _, info := range infos {
			out.Entries = append(out.Entries, entryOf(info))
		}
		return out, nil
	})
}
