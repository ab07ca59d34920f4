package langsmith

import (
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

// boxStatus maps core's states to LangSmith's box statuses.
var boxStatus = map[core.SandboxState]api.SandboxesBoxResponseStatus{
	core.SandboxStarting: api.SandboxesBoxResponseStatusProvisioning,
	core.SandboxRunning:  api.SandboxesBoxResponseStatusReady,
	core.SandboxPaused:   api.SandboxesBoxResponseStatusStopped,
	core.SandboxFailed:   api.SandboxesBoxResponseStatusFailed,
	core.SandboxKilled:   api.SandboxesBoxResponseStatusDeleting,
}

func (a *API) toBox(c *gin.Context, sb *core.Sandbox) api.SandboxesBoxResponse {
	out := api.SandboxesBoxResponse{
		Id: sb.ID, Name: sb.Name, Status: boxStatus[sb.State], StatusMessage: opt(sb.StatusMessage),
		SnapshotId: sb.SnapshotID, DataplaneUrl: a.dataplaneURL(c, sb.ID), Vcpus: sb.VCPUs,
		MemBytes: sb.MemoryBytes, FsCapacityBytes: sb.DiskBytes, Labels: labels(sb.Metadata),
		IdleTtlSeconds: int64(sb.IdleTTL / time.Second), DeleteAfterStopSeconds: int64(sb.DeleteAfterStop / time.Second),
		CreatedAt: timestamp(sb.CreatedAt), UpdatedAt: timestamp(sb.UpdatedAt),
	}
	if sb.State == core.SandboxPaused {
		t := timestamp(sb.UpdatedAt)
		out.StoppedAt = &t
	}
	return out
}

// dataplaneURL is where the SDK sends a box's commands and files: snapgate
// itself (the configured public URL, or the host the client reached). The
// SDK appends paths to it, so it never ends in '/'.
func (a *API) dataplaneURL(c *gin.Context, id string) string {
	return a.baseURL(c) + "/dataplane/" + id
}

// baseURL is the URL clients reach snapgate at, without a trailing '/'.
func (a *API) baseURL(c *gin.Context) string {
	base := a.publicURL
	if base == "" {
		scheme := "http"
		if c.Request.TLS != nil || strings.EqualFold(c.GetHeader("X-Forwarded-Proto"), "https") {
			scheme = "https"
		}
		base = scheme + "://" + c.Request.Host
	}
	return strings.TrimRight(base, "/")
}
