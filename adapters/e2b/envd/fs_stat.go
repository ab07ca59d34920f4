package envd

import (
	"context"

	"connectrpc.com/connect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem"
	"github.com/snapgate/snapgate/core"
)

// Stat is filesystem.Filesystem/Stat (files.getInfo; files.exists turns
// not_found into false).
func (r filesystemRPC) Stat(ctx context.Context, req *connect.Request[filesystem.StatRequest]) (*connect.Response[filesystem.StatResponse], error) {
	out, err := withFiles(ctx, r.API, req.Header(), func(fs *core.Files) (*filesystem.StatResponse, error) {
		info, err := fs.Stat(ctx, req.Msg.GetPath())
		if err != nil {
			return nil, err
		}
		return &filesystem.StatResponse{Entry: entryOf(info)}, nil
	})
	return response(out, err)
}
