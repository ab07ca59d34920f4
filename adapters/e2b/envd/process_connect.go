package envd

import (
	"context"

	"connectrpc.com/connect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process"
)

// Connect is process.Process/Connect (commands.connect): re-attach to a
// running or recently exited process. Its buffered output is replayed
// first (envd sends only what comes after the call). The deadline ends the
// stream, not the process.
func (r processRPC) Connect(ctx context.Context, req *connect.Request[process.ConnectRequest], s *connect.ServerStream[process.ConnectResponse]) error {
	p, err := r.process(ctx, req.Msg.GetProcess())
	if err != nil {
		return err
	}
	noBuffering(s.ResponseHeader())
	return r.follow(ctx, req.Header(), p, false, func(ev *process.ProcessEvent) error {
		return s.Send(&process.ConnectResponse{Event: ev})
	})
}
