package core

import (
	"context"
	"path"
	"slices"
	"sort"
	"time"
)

// SandboxBusybox is where every sandbox has a static busybox (the
// engine's init binary, mounted read-only). Commands for a shell the image
// lacks run with its sh.
const SandboxBusybox = "/.snapgate/busybox"

// startTimeout bounds the engine's part of a start; it does not depend on
// the caller staying.
const startTimeout = 30 * time.Second

// shells are the interpreters a command may name that busybox sh stands in
// for when the image has none of them (SDKs send /bin/bash; images built
// from scratch or alpine have no bash).
var shells = []string{"bash", "sh", "ash", "dash", "ksh", "zsh"}

// Start starts a process as the user req.User names ("" = DefaultUser,
// or root when the image has no such user) in req.Cwd (default: the
// user's home, or / when it has none). A Start with the Key of an earlier
// one returns that process. ErrInvalidArgument (no command, missing cwd),
// ErrUnauthenticated (unknown user), ErrNotFound and ErrFailedPrecondition
// (the sandbox is gone, paused or stopped).
func (d *Dataplane) Start(ctx context.Context, t *Target, req StartProcessRequest) (*Process, error) {
	id, err := targetID(t)
	if err != nil {
		return nil, err
	}
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return nil, Errorf(ErrInvalidArgument, "a command is required")
	}
	if req.Timeout < 0 {
		return nil, Errorf(ErrInvalidArgument, "timeout must not be negative")
	}
	if req.Key == "" {
		return d.start(ctx, t.Sandbox, req)
	}
	ks, owner := d.claimKey(id, req.Key)
	if !owner {
		select {
		case <-ks.done:
			return ks.p, ks.err
		case <-ctx.Done():
			return nil, WithCause(ErrUnavailable, ctx.Err(), "command %q is still starting", req.Key)
		}
	}
	p, err := d.start(ctx, t.Sandbox, req)
	d.settleKey(id, req.Key, ks, p, err)
	return p, err
}

func (d *Dataplane) start(ctx context.Context, sb *Sandbox, req StartProcessRequest) (*Process, error) {
	spec, err := d.processSpec(ctx, sb, req)
	if err != nil {
		return nil, err
	}
	p := &Process{
		d: d, sandboxID: sb.ID, out: newOutput(d.opt.OutputBuffer),
		done: make(chan struct{}), stdinTurn: make(chan struct{}, 1),
		info: ProcessInfo{Tag: req.Tag, Key: req.Key, Argv: slices.Clone(req.Argv), Env: req.Env, Cwd: spec.Cwd},
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
	defer cancel()
	rp, err := d.opt.Engine.StartProcess(sctx, sb.ID, spec, p.out.writer(Stdout), p.out.writer(Stderr))
	if err != nil {
		return nil, err
	}
	p.rp = rp
	d.register(p)
	go p.run(req.Timeout)
	d.opt.Logger.DebugContext(ctx, "dataplane process started", "sandbox_id", sb.ID, "pid", p.info.PID)
	return p, nil
}

// processSpec resolves user, working directory, command and environment
// against the sandbox's own files.
func (d *Dataplane) processSpec(ctx context.Context, sb *Sandbox, req StartProcessRequest) (ProcessSpec, error) {
	s, err := d.opt.Engine.OpenFS(ctx, sb.ID)
	if err != nil {
		return ProcessSpec{}, err
	}
	defer s.Close()
	u, err := readAccounts(ctx, s).user(req.User)
	if err != nil {
		return ProcessSpec{}, err
	}
	cwd, err := workDir(ctx, s, req.Cwd, u.Home)
	if err != nil {
		return ProcessSpec{}, err
	}
	return ProcessSpec{
		Argv: commandFor(ctx, s, req.Argv),
		Env:  processEnv(u, sb.Env, req.Env),
		Cwd:  cwd, UID: u.UID, GID: u.GID, AdditionalGIDs: u.Groups,
		Stdin: req.Stdin,
	}, nil
}

// workDir is the process's working directory: cwd expanded like a path,
// or the home directory (/ when it does not exist).
func workDir(ctx context.Context, s SandboxFS, cwd, home string) (string, error) {
	if cwd == "" {
		if home != "" && isDir(ctx, s, home) {
			return path.Clean(home), nil
		}
		return "/", nil
	}
	abs, err := expandPath(cwd, home)
	if err != nil {
		return "", err
	}
	if !isDir(ctx, s, abs) {
		return "", Errorf(ErrInvalidArgument, "working directory '%s' does not exist or is not a directory", abs)
	}
	return abs, nil
}

// commandFor runs a shell the image lacks with the image's /bin/sh, or
// else with the busybox every sandbox has. Busybox sh accepts what SDKs
// pass to bash (-l, -c, --login, --noprofile).
func commandFor(ctx context.Context, s SandboxFS, argv []string) []string {
	name := argv[0]
	if !path.IsAbs(name) || !slices.Contains(shells, path.Base(name)) || isExecutable(ctx, s, name) {
		return slices.Clone(argv)
	}
	if name != "/bin/sh" && isExecutable(ctx, s, "/bin/sh") {
		return append([]string{"/bin/sh"}, argv[1:]...)
	}
	return append([]string{SandboxBusybox, "sh"}, argv[1:]...)
}

// isExecutable reports whether p is (or links to) a regular file with an
// execute bit.
func isExecutable(ctx context.Context, s SandboxFS, p string) bool {
	st, err := s.Stat(ctx, p, true)
	return err == nil && st.Mode.IsRegular() && st.Mode.Perm()&0o111 != 0
}

// isDir reports whether p is (or links to) a directory.
func isDir(ctx context.Context, s SandboxFS, p string) bool {
	st, err := s.Stat(ctx, p, true)
	return err == nil && st.Mode.IsDir()
}

// processEnv is what core sets on top of the sandbox's environment (the
// engine keeps the image's ENV underneath, PATH included): HOME, USER,
// LOGNAME, then the sandbox's env, then the request's. Keys are sorted
// within each map so the same request gives the same spec.
func processEnv(u account, sandboxEnv, reqEnv map[string]string) []string {
	env := []string{"HOME=" + u.Home, "USER=" + u.Name, "LOGNAME=" + u.Name}
	for _, m := range []map[string]string{sandboxEnv, reqEnv} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			env = append(env, k+"="+m[k])
		}
	}
	return env
}
