package envd

import (
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// sendInput is process.Process/SendInput (sendStdin): write to the
// process's stdin. PTY input is not served (there are no PTYs).
func (a *API) sendInput(c *gin.Context) {
	var req sendInputRequest
	if err := readUnary(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	switch {
	case req.Input == nil || req.Input.Stdin == nil && req.Input.PTY == nil:
		a.fail(c, core.Errorf(core.ErrInvalidArgument, "input: give stdin"))
		return
	case req.Input.Stdin == nil:
		a.fail(c, newError(errUnimplemented, "PTY input is not supported by snapgate"))
		return
	}
	p, err := a.process(c, req.Process)
	if err == nil {
		err = p.WriteStdin(ctx(c), *req.Input.Stdin)
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	writeUnary(c, struct{}{})
}
