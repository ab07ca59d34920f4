package e2b

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/e2b/api"
	"github.com/snapgate/snapgate/core"
)

// listSnapshots is GET /snapshots: the team's snapshots, newest first,
// filtered by source sandbox and by name or id (bare name: any tag). The
// cursor in X-Next-Token is the next offset.
func (a *API) listSnapshots(c *gin.Context) {
	p, err := core.PrincipalFrom(ctx(c))
	if err != nil {
		a.writeError(c, err)
		return
	}
	limit, err := pageLimit(c.Query("limit"))
	if err != nil {
		a.writeError(c, err)
		return
	}
	offset, err := snapshotOffset(c.Query("nextToken"))
	if err != nil {
		a.writeError(c, err)
		return
	}
	snaps, err := a.findSnapshots(c, p.TenantID, core.SnapshotFilter{
		SourceSandboxID: c.Query("sandboxID"), Limit: limit + 1, Offset: offset,
	})
	if err != nil {
		a.writeError(c, err)
		return
	}
	if len(snaps) > limit {
		snaps = snaps[:limit]
		c.Header("X-Next-Token", strconv.Itoa(offset+limit))
	}
	out := make([]api.SnapshotInfo, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, toSnapshotInfo(p.TenantID, s))
	}
	c.JSON(http.StatusOK, out)
}

// findSnapshots applies the name filter: an id names one snapshot, a name
// (with or without the team namespace) filters by name and optional tag.
func (a *API) findSnapshots(c *gin.Context, tenant string, f core.SnapshotFilter) ([]*core.Snapshot, error) {
	name := c.Query("name")
	if name == "" {
		return a.snapshots.List(ctx(c), f)
	}
	ref, err := core.ParseSnapshotRef(name)
	if err != nil {
		return nil, err
	}
	if ref.ID != "" {
		snap, err := a.snapshots.Lookup(ctx(c), ref.ID)
		switch {
		case errors.Is(err, core.ErrNotFound):
			return nil, nil
		case err != nil:
			return nil, err
		case f.Offset > 0 || (f.SourceSandboxID != "" && snap.SourceSandboxID != f.SourceSandboxID):
			return nil, nil
		}
		return []*core.Snapshot{snap}, nil
	}
	f.Name, f.Tag = ref.Name, ref.Tag
	if ns, rest := ref.Namespace(); ns != "" && ns == core.TeamNamespace(tenant) {
		f.Name = rest
	}
	return a.snapshots.List(ctx(c), f)
}

func snapshotOffset(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(tok)
	if err != nil || n < 0 {
		return 0, core.Errorf(core.ErrInvalidArgument, "query parameter \"nextToken\" is not a token this server issued")
	}
	return n, nil
}
