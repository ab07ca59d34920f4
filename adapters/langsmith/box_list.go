package langsmith

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

// listBoxes pages by offset over the tenant's live boxes, filtered and
// sorted as the query asks (Stainless's boxes.list sends these; the
// hand-written SDKs send none).
func (a *API) listBoxes(c *gin.Context) {
	limit, offset, err := listParams(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	if limit == 0 {
		limit = core.DefaultLimit
	}
	f, none, err := boxFilter(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	all := []*core.Sandbox{}
	if !none {
		if all, err = a.sandboxes.List(ctx(c), f); err != nil {
			a.writeError(c, err)
			return
		}
	}
	contains := strings.ToLower(c.Query("name_contains"))
	out := []api.SandboxesBoxResponse{}
	for _, sb := range all {
		if contains != "" && !strings.Contains(strings.ToLower(sb.Name), contains) {
			continue
		}
		out = append(out, a.toBox(c, sb))
	}
	if offset >= len(out) {
		out = out[:0]
	} else {
		out = out[offset:min(len(out), offset+limit)]
	}
	next, cursor := pageCursor(len(out), offset, limit)
	c.JSON(http.StatusOK, api.SandboxesBoxList{Sandboxes: out, Items: out, NextCursor: cursor, Offset: next})
}

// boxStates are the core states of each status a box can be listed in.
// failed and deleting are valid filters that match nothing: such a box is
// no longer live, so it is never listed.
var boxStates = map[api.ListBoxesParamsStatus]core.SandboxState{
	api.ListBoxesParamsStatusProvisioning: core.SandboxStarting,
	api.ListBoxesParamsStatusReady:        core.SandboxRunning,
	api.ListBoxesParamsStatusStopped:      core.SandboxPaused,
	api.ListBoxesParamsStatusFailed:       "",
	api.ListBoxesParamsStatusDeleting:     "",
}

// boxSorts are core's sorts by sort_by. core's state order (starting,
// running, paused) is LangSmith's by status name (provisioning, ready,
// stopped), and its paused time is what boxes report as stopped_at.
var boxSorts = map[api.ListBoxesParamsSortBy]core.SandboxSort{
	api.CreatedAt:              core.SortCreated,
	api.Name:                   core.SortName,
	api.Status:                 core.SortState,
	api.StoppedAt:              core.SortPaused,
	api.IdleTtlSeconds:         core.SortIdleTTL,
	api.DeleteAfterStopSeconds: core.SortDeleteAfterStop,
}

// boxFilter reads label, status, sort_by and sort_order (or the deprecated
// sort_direction). none reports a filter no listed box can match. Unknown
// values are 422 naming the parameter (the validator catches them first
// when it is on).
func boxFilter(c *gin.Context) (f core.SandboxFilter, none bool, err error) {
	for _, l := range c.QueryArray("label") {
		k, v, hasValue := strings.Cut(l, "=")
		switch {
		case k == "":
			return f, false, core.Errorf(core.ErrInvalidArgument, "query parameter \"label\" must be key or key=value, got %q", l)
		case hasValue:
			if f.Metadata == nil {
				f.Metadata = map[string]string{}
			}
			if old, ok := f.Metadata[k]; ok && old != v {
				return f, true, nil // two values for one key
			}
			f.Metadata[k] = v
		default:
			f.MetadataKeys = append(f.MetadataKeys, k)
		}
	}
	if s := c.Query("status"); s != "" {
		st, ok := boxStates[api.ListBoxesParamsStatus(s)]
		if !ok {
			return f, false, core.Errorf(core.ErrInvalidArgument, "query parameter \"status\" must be one of provisioning, ready, failed, stopped, deleting, got %q", s)
		}
		if st == "" {
			return f, true, nil
		}
		f.States = []core.SandboxState{st}
	}
	if s := c.Query("sort_by"); s != "" {
		sort, ok := boxSorts[api.ListBoxesParamsSortBy(s)]
		if !ok {
			return f, false, core.Errorf(core.ErrInvalidArgument, "query parameter \"sort_by\" must be one of name, status, created_at, stopped_at, idle_ttl_seconds, delete_after_stop_seconds, got %q", s)
		}
		f.Sort = sort
	}
	// sort_order wins over its deprecated name.
	param, order := "sort_order", c.Query("sort_order")
	if order == "" {
		param, order = "sort_direction", c.Query("sort_direction")
	}
	switch order {
	case "", "desc":
	case "asc":
		f.Ascending = true
	default:
		return f, false, core.Errorf(core.ErrInvalidArgument, "query parameter %q must be asc or desc, got %q", param, order)
	}
	return f, false, nil
}
