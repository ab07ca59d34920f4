package e2b

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// newSandboxBody is NewSandboxV2, plus v1's secure (accepted and ignored:
// an access token is always issued, which the SDKs then send to envd).
type newSandboxBody struct {
	TemplateID          string            `json:"templateID"`
	Timeout             *int32            `json:"timeout"`
	Metadata            map[string]string `json:"metadata"`
	EnvVars             map[string]string `json:"envVars"`
	AutoPause           *bool             `json:"autoPause"`
	AutoPauseMemory     *bool             `json:"autoPauseMemory"`
	AutoResume          *autoResume       `json:"autoResume"`
	AllowInternetAccess *bool             `json:"allow_internet_access"`
	Network             json.RawMessage   `json:"network"`
	IAM                 json.RawMessage   `json:"iam"`
	MCP                 json.RawMessage   `json:"mcp"`
	VolumeMounts        []json.RawMessage `json:"volumeMounts"`
	Secure              *bool             `json:"secure"`
}

type autoResume struct {
	Enabled bool `json:"enabled"`
}

// Default timeouts: E2B's spec gives v1 15 seconds (Python always sends
// 300) and v2 300 seconds (JS sends one only when the caller sets it).
const (
	defaultTimeoutV1 = 15 * time.Second
	defaultTimeoutV2 = 300 * time.Second
	// snapshotWait bounds the wait for a snapshot still building (the
	// default one is built on first use), under the SDKs' 60 s request
	// timeout.
	snapshotWait = 45 * time.Second
)

func (a *API) createSandboxV1(c *gin.Context) { a.createSandbox(c, defaultTimeoutV1) }

func (a *API) createSandboxV2(c *gin.Context) { a.createSandbox(c, defaultTimeoutV2) }

func (a *API) createSandbox(c *gin.Context, defaultTimeout time.Duration) {
	var body newSandboxBody
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	req, err := body.request(defaultTimeout)
	if err != nil {
		a.writeError(c, err)
		return
	}
	sb, err := a.sandboxes.Create(ctx(c), req)
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, a.toSandboxJSON(c, sb))
}

func (b *newSandboxBody) request(defaultTimeout time.Duration) (core.CreateSandboxRequest, error) {
	if err := b.unsupported(); err != nil {
		return core.CreateSandboxRequest{}, err
	}
	if b.TemplateID == "" {
		return core.CreateSandboxRequest{}, core.Errorf(core.ErrInvalidArgument, "templateID is required")
	}
	timeout, err := timeoutOr(b.Timeout, defaultTimeout)
	if err != nil {
		return core.CreateSandboxRequest{}, err
	}
	onTimeout := core.TimeoutKill
	if b.AutoPause != nil && *b.AutoPause {
		onTimeout = core.TimeoutPause
	}
	return core.CreateSandboxRequest{
		SnapshotRef: b.TemplateID, Env: b.EnvVars, Metadata: b.Metadata,
		Timeout: timeout, OnTimeout: onTimeout, WaitForSnapshot: snapshotWait,
	}, nil
}

// unsupported refuses options snapgate cannot honour rather than ignore
// them: a network policy or a filesystem-only pause silently dropped would
// give the caller something other than what it asked for.
func (b *newSandboxBody) unsupported() error {
	switch {
	case b.AutoPause != nil && *b.AutoPause && b.AutoPauseMemory != nil && !*b.AutoPauseMemory:
		return core.Errorf(core.ErrInvalidArgument, "autoPauseMemory: false (filesystem-only pause) is not supported")
	case b.AutoResume != nil && b.AutoResume.Enabled:
		return core.Errorf(core.ErrInvalidArgument, "autoResume is not supported; resume paused sandboxes with connect")
	case b.AllowInternetAccess != nil && !*b.AllowInternetAccess:
		return core.Errorf(core.ErrInvalidArgument, "allow_internet_access: false is not supported")
	case setObject(b.Network):
		return core.Errorf(core.ErrInvalidArgument, "network configuration is not supported")
	case setObject(b.IAM):
		return core.Errorf(core.ErrInvalidArgument, "iam is not supported")
	case len(b.MCP) > 0 && string(b.MCP) != "null":
		return core.Errorf(core.ErrInvalidArgument, "mcp is not supported")
	case len(b.VolumeMounts) > 0:
		return core.Errorf(core.ErrInvalidArgument, "volumeMounts are not supported")
	}
	return nil
}

// setObject reports whether raw is a JSON object with at least one key
// (the JS SDK sends {} for an empty network option).
func setObject(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return true
	}
	return len(m) > 0
}
