package envd

import (
	"context"

	"connectrpc.com/connect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process"
)

// Update is process.Process/Update (pty.resize). snapgate runs no PTYs.
func (r processRPC) Update(context.Context, *connect.Request[process.UpdateRequest]) (*connect.Response[process.UpdateResponse], error) {
	return nil, newError(errUnimplemented, "pty: PTY sessions are not supported by snapgate, so there is nothing to resize")
}
