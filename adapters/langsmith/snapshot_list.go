package langsmith

import (
	"github.com/gin-gonic/gin"

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
	out := make([]snapshotJSON, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, toSnapshotJSON(s))
	}
	if limit == 0 {
		limit = core.DefaultLimit
	}
	page(c, "snapshots", out, offset, limit)
}
