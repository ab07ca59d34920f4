package langsmith

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

// commandJSON is what the WebSocket execute frame shares with the HTTP
// execute body (api.DataplaneExecuteJSONBody); the WebSocket protocol has
// no OpenAPI description, so its frames are written here.
type commandJSON struct {
	Command   string                  `json:"command"`
	Shell     string                  `json:"shell"`
	Env       map[string]string       `json:"env"`
	Cwd       *string                 `json:"cwd"`
	RunConfig *api.SandboxesRunConfig `json:"run_config"`
}

const (
	// boxUser is who commands and file operations of a box run as unless
	// run_config names another: LangSmith boxes act as root (the SDK
	// examples write to /srv), where E2B sandboxes default to "user".
	boxUser        = "root"
	defaultShell   = "/bin/bash"
	defaultTimeout = 60 * time.Second
	// maxExecuteOutput bounds what the blocking execute keeps per stream:
	// its answer is one JSON document. Longer output is cut; streaming
	// callers use the WebSocket.
	maxExecuteOutput = 16 << 20
)

// startRequest turns the vendor command into core's: [shell, "-c", command]
// with the deprecated env/cwd or the per-command run_config (never both, as
// the SDKs also refuse client-side).
func (b commandJSON) startRequest(timeout time.Duration) (core.StartProcessRequest, error) {
	if b.RunConfig != nil && (b.Env != nil || b.Cwd != nil) {
		return core.StartProcessRequest{}, core.Errorf(core.ErrInvalidArgument,
			"run_config cannot be combined with the deprecated env and cwd; use run_config.env_vars and run_config.work_dir")
	}
	shell := b.Shell
	if shell == "" {
		shell = defaultShell
	}
	req := core.StartProcessRequest{Argv: []string{shell, "-c", b.Command}, Env: b.Env, Timeout: timeout, User: boxUser}
	if b.Cwd != nil {
		req.Cwd = *b.Cwd
	}
	if rc := b.RunConfig; rc != nil {
		req.Cwd, req.Env = deref(rc.WorkDir), deref(rc.EnvVars)
		if deref(rc.User) != "" {
			req.User = *rc.User
		}
	}
	return req, nil
}

// seconds converts the SDKs' timeout (seconds; nil = the default, 0 or
// less = no limit).
func seconds(v *float64, def time.Duration) time.Duration {
	switch {
	case v == nil:
		return def
	case *v <= 0, *v*float64(time.Second) >= math.MaxInt64:
		return 0 // beyond what a time.Duration holds is no limit, not an overflow
	}
	return time.Duration(*v * float64(time.Second))
}

// execute runs a command and answers once it exited (POST /execute, what
// the JS SDK uses without the optional ws package).
func (a *API) execute(c *gin.Context) {
	var body api.DataplaneExecuteJSONRequestBody
	if err := bind(c, &body); err != nil {
		a.writeError(c, dataplaneErr(opCommand, err))
		return
	}
	timeout := seconds(body.Timeout, defaultTimeout)
	cmd := commandJSON{Command: body.Command, Shell: deref(body.Shell), Env: deref(body.Env), Cwd: body.Cwd, RunConfig: body.RunConfig}
	req, err := cmd.startRequest(timeout)
	if err != nil {
		a.writeError(c, dataplaneErr(opCommand, err))
		return
	}
	t, err := a.target(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	p, err := a.dataplane.Start(ctx(c), t, req)
	if err != nil {
		a.writeError(c, dataplaneErr(opCommand, err))
		return
	}
	res, info, err := collect(ctx(c), p)
	if err != nil {
		// The caller is gone and nobody else can attach to a process
		// without a key: do not leave it running.
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx(c)), 5*time.Second)
		defer cancel()
		_ = p.Signal(kctx, syscall.SIGKILL)
		a.writeError(c, dataplaneErr(opCommand, err))
		return
	}
	if info.TimedOut {
		a.writeError(c, dataplaneErr(opCommand, core.Errorf(errCommandTimeout, "command timed out after %s and was killed", timeout)))
		return
	}
	res.ExitCode = exitCode(info.Status)
	c.JSON(http.StatusOK, res)
}

// collect gathers a process's output until it ended.
func collect(ctx context.Context, p *core.Process) (api.DataplaneExecuteResult, core.ProcessInfo, error) {
	var out, errOut []byte
	for ev := range p.Events(ctx, 0, 0) {
		switch {
		case ev.End != nil:
			return api.DataplaneExecuteResult{Stdout: string(out), Stderr: string(errOut)}, *ev.End, nil
		case ev.Stream == core.Stdout:
			out = appendCapped(out, ev.Data)
		case ev.Stream == core.Stderr:
			errOut = appendCapped(errOut, ev.Data)
		}
	}
	if err := ctx.Err(); err != nil {
		return api.DataplaneExecuteResult{}, core.ProcessInfo{}, err
	}
	return api.DataplaneExecuteResult{}, core.ProcessInfo{}, fmt.Errorf("process %d: event stream ended without its end", p.Info().PID)
}

func appendCapped(b, data []byte) []byte {
	if room := maxExecuteOutput - len(b); room < len(data) {
		data = data[:max(room, 0)]
	}
	return append(b, data...)
}

// exitCode is the shell convention the SDKs show: 128+signal for a process
// killed by a signal.
func exitCode(s core.ExitStatus) int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.Code
}
