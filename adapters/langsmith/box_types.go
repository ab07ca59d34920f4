package langsmith

import (
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// boxJSON is LangSmith's sandbox (box) object.
type boxJSON struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Status        string            `json:"status"`
	StatusMessage string            `json:"status_message,omitempty"`
	SnapshotID    string            `json:"snapshot_id"`
	DataplaneURL  string            `json:"dataplane_url"`
	VCPUs         int               `json:"vcpus"`
	MemBytes      int64             `json:"mem_bytes"`
	FSCapacity    int64             `json:"fs_capacity_bytes,omitempty"`
	Labels        map[string]string `json:"labels"`
	CreatedAt     string            `json:"created_at"`
	UpdatedAt     string            `json:"updated_at"`
	StoppedAt     *string           `json:"stopped_at"`
}

// boxStatus maps core's states to LangSmith's box statuses.
var boxStatus = map[core.SandboxState]string{
	core.SandboxStarting: "provisioning",
	core.SandboxRunning:  "ready",
	core.SandboxPaused:   "stopped",
	core.SandboxFailed:   "failed",
	core.SandboxKilled:   "deleting",
}

func (a *API) toBoxJSON(c *gin.Context, sb *core.Sandbox) boxJSON {
	out := boxJSON{
		ID: sb.ID, Name: sb.Name, Status: boxStatus[sb.State], StatusMessage: sb.StatusMessage,
		SnapshotID: sb.SnapshotID, DataplaneURL: a.dataplaneURL(c, sb.ID), VCPUs: sb.VCPUs,
		MemBytes: sb.MemoryBytes, FSCapacity: sb.DiskBytes, Labels: sb.Metadata, CreatedAt: timestamp(sb.CreatedAt), UpdatedAt: timestamp(sb.UpdatedAt),
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
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
	base := a.publicURL
	if base == "" {
		scheme := "http"
		if c.Request.TLS != nil || strings.EqualFold(c.GetHeader("X-Forwarded-Proto"), "https") {
			scheme = "https"
		}
		base = scheme + "://" + c.Request.Host
	}
	return strings.TrimRight(base, "/") + "/dataplane/" + id
}
