package envd

import (
	"context"

	"connectrpc.com/connect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process"
)

// CloseStdin is process.Process/CloseStdin (closeStdin): EOF on stdin.
func (r processRPC) CloseStdin(ctx context.Context, req *connect.Request[process.CloseStdinRequest]) (*connect.Response[process.CloseStdinResponse], error) {
	p, err := r.process(ctx, req.Msg.GetProcess())
	if err == nil {
		err = p.CloseStdin(ctx)
	}
	return response(&process.CloseStdinResponse{}, err)
}
