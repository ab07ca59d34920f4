package envd

import (
	"context"

	"connectrpc.com/connect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem"
	"github.com/snapgate/snapgate/core"
)

// Remove is filesystem.Filesystem/Remove (files.remove): recursive; a
// missing path is success.
func (r filesystemRPC) Remove(ctx context.Context, req *connect.Request[filesystem.RemoveRequest]) (*connect.Response[filesystem.RemoveResponse], error) {
	out, err := withFiles(ctx, r.API, req.Header(), func(fs *core.Files) (*filesystem.RemoveResponse, error) {
		return &filesystem.RemoveResponse{}, fs.Remove(ctx, req.Msg.GetPath())
	})
	return response(out, err)
}
