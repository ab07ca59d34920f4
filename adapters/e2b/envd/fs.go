package envd

import (
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// fsCall runs one unary filesystem RPC: decode req, open the sandbox's
// filesystem as the Basic-auth user, run do, answer its message. The
// handle is closed when the call ends.
func fsCall[Req any](a *API, c *gin.Context, do func(*core.Files, Req) (any, error)) {
	var req Req
	if err := readUnary(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	fs, err := a.files(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	defer fs.Close()
	out, err := do(fs, req)
	if err != nil {
		a.fail(c, err)
		return
	}
	writeUnary(c, out)
}

// files opens the sandbox's filesystem as the RPC's user.
func (a *API) files(c *gin.Context) (*core.Files, error) {
	user, err := rpcUser(c)
	if err != nil {
		return nil, err
	}
	return a.dp.Files(ctx(c), target(c), user)
}
