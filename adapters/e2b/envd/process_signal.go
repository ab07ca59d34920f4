package envd

import (
	"context"

	"connectrpc.com/connect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process"
)

// SendSignal is process.Process/SendSignal (commands.kill sends
// SIGNAL_SIGKILL; not_found makes the SDK return false).
func (r processRPC) SendSignal(ctx context.Context, req *connect.Request[process.SendSignalRequest]) (*connect.Response[process.SendSignalResponse], error) {
	sig, err := syscallSignal(req.Msg.GetSignal())
	if err != nil {
		return nil, err
	}
	p, err := r.process(ctx, req.Msg.GetProcess())
	if err == nil {
		err = p.Signal(ctx, sig)
	}
	return response(&process.SendSignalResponse{}, err)
}
