package envd

import (
	"context"

	"connectrpc.com/connect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem"
	"github.com/snapgate/snapgate/core"
)

// MakeDir is filesystem.Filesystem/MakeDir (files.makeDir). An existing
// directory is already_exists, as in envd: the SDK returns false for it.
func (r filesystemRPC) MakeDir(ctx context.Context, req *connect.Request[filesystem.MakeDirRequest]) (*connect.Response[filesystem.MakeDirResponse], error) {
	out, err := withFiles(ctx, r.API, req.Header(), func(fs *core.Files) (*filesystem.MakeDirResponse, error) {
		info, created, err := fs.MakeDir(ctx, req.Msg.GetPath())
		if err != nil {
			return nil, err
		}
		if !created {
			path := info.Path
			if path == "" {
				path = req.Msg.GetPath()
			}
			return nil, core.Errorf(core.ErrAlreadyExists, "directory '%s' already exists", path)
		}
		return &filesystem.MakeDirResponse{Entry: entryOf(info)}, nil
	})
	return response(out, err)
}
