package engine

import (
	"context"
	"fmt"
	"io"
	"path"
	"strconv"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/rootfs"
)

// defaultPath is the PATH of a process whose sandbox's image sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// StartProcess implements core.DataplaneEngine: spec runs in the sandbox's
// task as an exec'd process (no terminal) with the sandbox's own process
// spec (capabilities, rlimits, its environment: the image's ENV and the
// sandbox's env) and spec's argv, user, cwd and env on top. The process
// outlives ctx. ErrInvalidArgument, ErrNotFound, ErrFailedPrecondition
// (paused or stopped).
func (e *Engine) StartProcess(ctx context.Context, sandboxID string, spec core.ProcessSpec,
	stdout, stderr io.Writer) (core.RunningProcess, error) {
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return nil, core.Errorf(core.ErrInvalidArgument, "a command is required")
	}
	if spec.Cwd != "" && !path.IsAbs(spec.Cwd) {
		return nil, core.Errorf(core.ErrInvalidArgument, "working directory %q is not absolute", spec.Cwd)
	}
	ctx = e.withNS(ctx)
	rp := newRunningProcess(e, sandboxID, spec.Stdin)
	defer close(rp.ready)
	var stdin io.Reader
	if spec.Stdin {
		stdin = &eofReader{r: rp.stdinR, atEOF: rp.closeShimStdin}
	}
	streams := cio.NewCreator(cio.WithStreams(stdin, stdout, stderr))
	p, exited, err := e.startProcess(ctx, sandboxID, streams, func(proc *specs.Process) {
		applyProcessSpec(proc, spec)
	})
	if err != nil {
		rp.closeStdin()
		if code, ok := startFailureCode(err); ok {
			// What a shell would print; the process "exits" at once.
			reason := "command not found"
			if code == 126 {
				reason = "permission denied"
			}
			_, _ = fmt.Fprintf(stderr, "%s: %s\n", spec.Argv[0], reason)
			rp.finish(core.ExitStatus{Code: code}, nil)
			return rp, nil
		}
		return nil, classifyExec(err, sandboxID)
	}
	rp.p = p
	e.execs.add(rp)
	go rp.reap(exited)
	return rp, nil
}

// applyProcessSpec puts spec on the sandbox's process spec. The sandbox's
// environment stays underneath spec.Env, so an image's ENV (its PATH
// above all) reaches commands; a default PATH covers images without one.
func applyProcessSpec(proc *specs.Process, spec core.ProcessSpec) {
	proc.Args = append([]string(nil), spec.Argv...)
	proc.Env = mergeEnv(mergeEnv([]string{defaultPath}, proc.Env), spec.Env)
	proc.Cwd = spec.Cwd
	if proc.Cwd == "" {
		proc.Cwd = "/"
	}
	proc.User = specs.User{
		UID:            spec.UID,
		GID:            spec.GID,
		AdditionalGids: append([]uint32(nil), spec.AdditionalGIDs...),
		Umask:          proc.User.Umask,
	}
}

// OpenFS implements core.DataplaneEngine: the sandbox's root as the host
// reaches it through its task's init process (/proc/<pid>/root, which
// shows the container's mounts too and works while the task is frozen),
// served by rootfs with the sandbox's id shift: what the dataplane makes
// for a user is owned by the user's host id in the sandbox's range.
// ErrNotFound, ErrFailedPrecondition (no live task).
func (e *Engine) OpenFS(ctx context.Context, sandboxID string) (core.SandboxFS, error) {
	dir, shift, err := e.rootDir(ctx, sandboxID)
	if err != nil {
		return nil, err
	}
	fsys, err := rootfs.Open(dir, rootfs.IDMap{ToHost: shift.toHost, ToSandbox: shift.toSandbox})
	if err != nil {
		// The task ended since.
		return nil, core.WithCause(core.ErrFailedPrecondition, err, "sandbox %s is not running", sandboxID)
	}
	return fsys, nil
}

// rootDir is the host path of the sandbox's root while its task lives,
// and the sandbox's id range. ErrNotFound, ErrFailedPrecondition.
func (e *Engine) rootDir(ctx context.Context, sandboxID string) (string, idShift, error) {
	ctx = e.withNS(ctx)
	c, task, st, err := e.sandboxTask(ctx, sandboxID)
	if err != nil {
		return "", idShift{}, err
	}
	switch st {
	case containerd.Running, containerd.Paused, containerd.Pausing:
	default:
		return "", idShift{}, notRunning(sandboxID)
	}
	pid := task.Pid()
	if pid == 0 {
		return "", idShift{}, notRunning(sandboxID)
	}
	// The range label is set once, at creation: the record loaded above
	// holds it, no second round trip to containerd on every file call.
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return "", idShift{}, classify(err, "load sandbox "+sandboxID)
	}
	return "/proc/" + strconv.FormatUint(uint64(pid), 10) + "/root", shiftOf(info.Labels), nil
}

// HoldFiles implements core.DataplaneEngine: a shared hold on the
// sandbox's files lock, which a capture takes alone while it has the
// sandbox frozen (frozen).
func (e *Engine) HoldFiles(ctx context.Context, sandboxID string) (release func(), err error) {
	return e.files.rlock(ctx, sandboxID)
}
