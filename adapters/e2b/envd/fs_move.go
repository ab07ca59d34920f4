package envd

import (
	"context"

	"connectrpc.com/connect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem"
	"github.com/snapgate/snapgate/core"
)

// Move is filesystem.Filesystem/Move (files.rename).
func (r filesystemRPC) Move(ctx context.Context, req *connect.Request[filesystem.MoveRequest]) (*connect.Response[filesystem.MoveResponse], error) {
	switch {
	case req.Msg.GetSource() == "":
		return nil, core.Errorf(core.ErrInvalidArgument, "source: the path to move is missing")
	case req.Msg.GetDestination() == "":
		return nil, core.Errorf(core.ErrInvalidArgument, "destination: the path to move to is missing")
	}
	out, err := withFiles(ctx, r.API, req.Header(), func(fs *core.Files) (*filesystem.MoveResponse, error) {
		info, err := fs.Move(ctx, req.Msg.GetSource(), req.Msg.GetDestination())
		if err != nil {
			return nil, err
		}
		return &filesystem.MoveResponse{Entry: entryOf(info)}, nil
	})
	return response(out, err)
}
