package envd

import (
	"github.com/gin-gonic/gin"
)

// list is process.Process/List (commands.list): the running processes.
func (a *API) list(c *gin.Context) {
	var req struct{}
	if err := readUnary(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	infos, err := a.dp.Processes(ctx(c), target(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	out := listResponse{Processes: make([]processInfo, 0, len(infos))}
	for _, info := range infos {
		out.Processes = append(out.Processes, processInfoOf(info))
	}
	writeUnary(c, out)
}
