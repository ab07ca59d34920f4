package envd

import (
	"context"

	"connectrpc.com/connect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process"
)

// List is process.Process/List (commands.list): the running processes.
func (r processRPC) List(ctx context.Context, _ *connect.Request[process.ListRequest]) (*connect.Response[process.ListResponse], error) {
	infos, err := r.dp.Processes(ctx, callOf(ctx).target)
	if err != nil {
		return nil, err
	}
	out := &process.ListResponse{Processes: make([]*process.ProcessInfo, 0, len(infos))}
	for _, info := range infos {
		out.Processes = append(out.Processes, processInfoOf(info))
	}
	return connect.NewResponse(out), nil
}
