package e2b

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/e2b/api"
	"github.com/snapgate/snapgate/core"
)

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

// createSandboxV1 is the v1 create: NewSandboxV2 plus secure, accepted
// and ignored (an access token is always issued, which the SDKs then send
// to envd).
func (a *API) createSandboxV1(c *gin.Context) {
	var v1 api.NewSandbox
	if err := bind(c, &v1); err != nil {
		a.writeError(c, err)
		return
	}
	a.createSandbox(c, api.NewSandboxV2{
		TemplateID: v1.TemplateID, Timeout: v1.Timeout, Metadata: v1.Metadata, EnvVars: v1.EnvVars,
		AutoPause: v1.AutoPause, AutoPauseMemory: v1.AutoPauseMemory, AutoResume: v1.AutoResume,
		AllowInternetAccess: v1.AllowInternetAccess, Network: v1.Network, Iam: v1.Iam, Mcp: v1.Mcp,
		VolumeMounts: v1.VolumeMounts,
	}, defaultTimeoutV1)
}

func (a *API) createSandboxV2(c *gin.Context) {
	var body api.NewSandboxV2
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	a.createSandbox(c, body, defaultTimeoutV2)
}

func (a *API) createSandbox(c *gin.Context, body api.NewSandboxV2, defaultTimeout time.Duration) {
	req, err := createRequest(body, defaultTimeout)
	if err != nil {
		a.writeError(c, err)
		return
	}
	sb, err := a.sandboxes.Create(ctx(c), req)
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, a.toSandbox(c, sb))
}

func createRequest(b api.NewSandboxV2, defaultTimeout time.Duration) (core.CreateSandboxRequest, error) {
	if err := unsupported(b); err != nil {
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
	network, err := createNetwork(b.AllowInternetAccess, b.Network)
	if err != nil {
		return core.CreateSandboxRequest{}, err
	}
	return core.CreateSandboxRequest{
		SnapshotRef: b.TemplateID, Env: deref(b.EnvVars), Metadata: deref(b.Metadata),
		Timeout: timeout, OnTimeout: onTimeout, WaitForSnapshot: snapshotWait, Network: network,
	}, nil
}

// unsupported refuses options snapgate cannot honour rather than ignore
// them: a filesystem-only pause or an identity silently dropped would give
// the caller something other than what it asked for.
func unsupported(b api.NewSandboxV2) error {
	switch {
	case b.AutoPause != nil && *b.AutoPause && b.AutoPauseMemory != nil && !*b.AutoPauseMemory:
		return core.Errorf(core.ErrInvalidArgument, "autoPauseMemory: false (filesystem-only pause) is not supported")
	case b.AutoResume != nil && deref(b.AutoResume.Enabled):
		return core.Errorf(core.ErrInvalidArgument, "autoResume is not supported; resume paused sandboxes with connect")
	case len(deref(b.Iam)) > 0:
		return core.Errorf(core.ErrInvalidArgument, "iam is not supported")
	case b.Mcp != nil:
		// The SDK would next run mcp-gateway in the sandbox (its default
		// template for mcp is E2B's mcp-gateway image); refusing here, before
		// the template is looked up, names the real cause rather than a
		// missing mcp-gateway template, and leaves no sandbox behind.
		return core.Errorf(core.ErrInvalidArgument, "mcp is not supported: this server runs no MCP gateway; create the sandbox without mcp")
	case len(deref(b.VolumeMounts)) > 0:
		return core.Errorf(core.ErrInvalidArgument, "volumeMounts are not supported")
	}
	return nil
}
