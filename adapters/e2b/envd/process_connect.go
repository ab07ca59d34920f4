package envd

import (
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// connect is process.Process/Connect (commands.connect): re-attach to a
// running or recently exited process. Its buffered output is replayed
// first (envd sends only what comes after the call). The deadline ends the
// stream, not the process.
func (a *API) connect(c *gin.Context) {
	var req selectorRequest
	timeout, err := a.readStream(c, &req)
	if err != nil {
		a.fail(c, err)
		return
	}
	p, err := a.process(c, req.Process)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.follow(c, p, timeout, false)
}

// process finds the process a selector names: by pid, or by tag among the
// running processes.
func (a *API) process(c *gin.Context, sel *processSelector) (*core.Process, error) {
	switch {
	case sel != nil && sel.PID != nil:
		return a.dp.Process(ctx(c), target(c), uint32(*sel.PID))
	case sel != nil && sel.Tag != nil:
		infos, err := a.dp.Processes(ctx(c), target(c))
		if err != nil {
			return nil, err
		}
		for _, info := range infos {
			if info.Tag == *sel.Tag {
				return a.dp.Process(ctx(c), target(c), info.PID)
			}
		}
		return nil, core.Errorf(core.ErrNotFound, "no running process has tag %q", *sel.Tag)
	}
	return nil, core.Errorf(core.ErrInvalidArgument, "process: give a pid or a tag")
}
