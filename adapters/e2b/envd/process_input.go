package envd

import (
	"context"

	"connectrpc.com/connect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process"
	"github.com/snapgate/snapgate/core"
)

// SendInput is process.Process/SendInput (sendStdin): write to the
// process's stdin. PTY input is refused (there are no PTYs).
func (r processRPC) SendInput(ctx context.Context, req *connect.Request[process.SendInputRequest]) (*connect.Response[process.SendInputResponse], error) {
	var data []byte
	switch in := req.Msg.GetInput().GetInput().(type) {
	case *process.ProcessInput_Stdin:
		data = in.Stdin
	case *process.ProcessInput_Pty:
		return nil, newError(errUnimplemented, "input.pty: PTY input is not supported by snapgate")
	default:
		return nil, core.Errorf(core.ErrInvalidArgument, "input: give stdin")
	}
	p, err := r.process(ctx, req.Msg.GetProcess())
	if err == nil {
		err = p.WriteStdin(ctx, data)
	}
	return response(&process.SendInputResponse{}, err)
}
