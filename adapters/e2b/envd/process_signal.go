package envd

import (
	"github.com/gin-gonic/gin"
)

// sendSignal is process.Process/SendSignal (commands.kill sends
// SIGNAL_SIGKILL; not_found makes the SDK return false).
func (a *API) sendSignal(c *gin.Context) {
	var req sendSignalRequest
	if err := readUnary(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	sig, err := req.Signal.syscallSignal()
	if err != nil {
		a.fail(c, err)
		return
	}
	p, err := a.process(c, req.Process)
	if err == nil {
		err = p.Signal(ctx(c), sig)
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	writeUnary(c, struct{}{})
}
