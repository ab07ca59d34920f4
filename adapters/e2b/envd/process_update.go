package envd

import (
	"github.com/gin-gonic/gin"
)

// update is process.Process/Update (pty.resize). snapgate runs no PTYs.
func (a *API) update(c *gin.Context) {
	a.fail(c, newError(errUnimplemented, "PTY sessions are not supported by snapgate, so there is nothing to resize"))
}
