package envd

import (
	"context"

	"connectrpc.com/connect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem"
	"github.com/snapgate/snapgate/core"
)

// ListDir is filesystem.Filesystem/ListDir (files.list): the entries below
// a directory up to depth levels; depth 0 (the proto default) means 1.
func (r filesystemRPC) ListDir(ctx context.Context, req *connect.Request[filesystem.ListDirRequest]) (*connect.Response[filesystem.ListDirResponse], error) {
	out, err := withFiles(ctx, r.API, req.Header(), func(fs *core.Files) (*filesystem.ListDirResponse, error) {
		infos, err := fs.List(ctx, req.Msg.GetPath(), max(int(req.Msg.GetDepth()), 1))
		if err != nil {
			return nil, err
		}
		out := &filesystem.ListDirResponse{Entries: make([]*filesystem.EntryInfo, 0, len(infos))}
		for _, info := range infos {
			out.Entries = append(out.Entries, entryOf(info))
		}
		return out, nil
	})
	return response(out, err)
}
