package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

func (a *API) listSnapshots(c *gin.Context) {
	limit, offset, err := listParams(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	snaps, err := a.snapshots.List(ctx(c), core.SnapshotFilter{NameContains: c.Query("name_contains"), Limit: limit, Offset: offset})
	if err != nil {
		a.writeError(c, err)
		return
	}
	out := make([]api.SandboxesSnapshotResponse, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, toSnapshot(s))
	}
	if limit == 0 {
		limit = core.DefaultLimit
	}
	next, cursor := pageCursor(len(out), offset, limit)
	c.JSON(http.StatusOK, api.SandboxesSnapshotList{Snapshots: out, Items: out, NextCursor: cursor, Offset: next})
}
