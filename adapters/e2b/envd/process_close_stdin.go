package envd

import (
	"github.com/gin-gonic/gin"
)

// closeStdin is process.Process/CloseStdin (closeStdin): EOF on stdin.
func (a *API) closeStdin(c *gin.Context) {
	var req selectorRequest
	if err := readUnary(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	p, err := a.process(c, req.Process)
	if err == nil {
		err = p.CloseStdin(ctx(c))
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	writeUnary(c, struct{}{})
}
