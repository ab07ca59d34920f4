package coretest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/rootfs"
)

// StateFunc reports a sandbox's runtime state, like
// core.SandboxEngine.SandboxState (the fake Engine's method fits).
type StateFunc func(ctx context.Context, id string) (core.RuntimeState, error)

// DataplaneEngine is a core.DataplaneEngine on the host, for unit tests of
// the dataplane and adapters' HTTP tests. A sandbox's root filesystem is
// the directory Dir/<id>, made on first use with /etc/passwd (root, and
// "user" with home /home/user), /etc/group, /home/user, /root, /tmp and
// executable placeholders /bin/sh and /bin/bash. Processes are host
// processes: argv runs as given with the host's binaries (core's busybox
// path runs the host's busybox or sh), in the spec's cwd mapped under the
// sandbox's directory, with spec's env on the host's PATH plus
// SNAPGATE_FAKE_ROOT=<the sandbox's directory>. Users are not switched;
// "user" has the test process's own uid unless that is root (then 1000),
// so chowning to it works unprivileged.
type DataplaneEngine struct {
	Dir   string
	State StateFunc // nil: every sandbox is running

	mu    sync.Mutex
	specs []core.ProcessSpec
	procs map[*fakeProcess]bool
	ports map[string]*pipeListener // by portKey
}

// NewDataplaneEngine returns a fake whose sandboxes live under dir.
func NewDataplaneEngine(dir string, state StateFunc) *DataplaneEngine {
	return &DataplaneEngine{Dir: dir, State: state, procs: map[*fakeProcess]bool{}}
}

// Specs returns the specs of every process started so far.
func (e *DataplaneEngine) Specs() []core.ProcessSpec {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]core.ProcessSpec(nil), e.specs...)
}

// Close kills every process still running and waits for them.
func (e *DataplaneEngine) Close() {
	e.mu.Lock()
	procs := make([]*fakeProcess, 0, len(e.procs))
	for p := range e.procs {
		procs = append(procs, p)
	}
	e.mu.Unlock()
	for _, p := range procs {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (e *DataplaneEngine) check(ctx context.Context, id string) error {
	if e.State == nil {
		return nil
	}
	st, err := e.State(ctx, id)
	switch {
	case err != nil:
		return err
	case st == core.RuntimeMissing:
		return core.Errorf(core.ErrNotFound, "sandbox %s not found", id)
	case st == core.RuntimePaused:
		return core.Errorf(core.ErrFailedPrecondition, "sandbox %s is paused: resume it to run commands", id)
	case st != core.RuntimeRunning:
		return core.Errorf(core.ErrFailedPrecondition, "sandbox %s is not running", id)
	}
	return nil
}

// RootDir is the host directory of sandbox id's root filesystem, seeded
// on first use, for tests to plant and inspect files. ErrNotFound,
// ErrFailedPrecondition as State says.
func (e *DataplaneEngine) RootDir(ctx context.Context, id string) (string, error) {
	if err := e.check(ctx, id); err != nil {
		return "", err
	}
	root := filepath.Join(e.Dir, id)
	if _, err := os.Stat(root); err == nil {
		return root, nil
	}
	return root, seedRoot(root)
}

// OpenFS implements core.DataplaneEngine with DirFS over the sandbox's
// directory: its ids are the host's (its files are the test process's
// own).
func (e *DataplaneEngine) OpenFS(ctx context.Context, id string) (core.SandboxFS, error) {
	root, err := e.RootDir(ctx, id)
	if err != nil {
		return nil, err
	}
	return DirFS(root)
}

// DirFS is the core.SandboxFS of a sandbox whose root is the host
// directory dir and whose ids are the host's, for fakes of
// core.DataplaneEngine. It is the containerd engine's own implementation
// (core/rootfs), so core's tests of hostile trees (symlinks out,
// FIFOs, device nodes, proc) exercise the code that meets them.
func DirFS(dir string) (core.SandboxFS, error) {
	fsys, err := rootfs.Open(dir, rootfs.IDMap{})
	if err != nil {
		return nil, core.WithCause(core.ErrFailedPrecondition, err, "sandbox root %s cannot be opened", dir)
	}
	return fsys, nil
}

// HoldFiles implements core.DataplaneEngine. The fake never captures, so
// nothing ever waits.
func (e *DataplaneEngine) HoldFiles(context.Context, string) (func(), error) {
	return func() {}, nil
}

// seedRoot makes a new sandbox's files.
func seedRoot(root string) error {
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = 1000, 1000
	}
	files := map[string]string{
		"etc/passwd": fmt.Sprintf("root:x:0:0:root:/root:/bin/sh\nuser:x:%d:%d:user:/home/user:/bin/sh\n", uid, gid),
		"etc/group":  fmt.Sprintf("root:x:0:\nuser:x:%d:\n", gid),
		"bin/sh":     "#!/bin/sh\n", "bin/bash": "#!/bin/sh\n",
	}
	for _, d := range []string{"etc", "bin", "root", "tmp", "home/user"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o755); err != nil {
			return err
		}
	}
	return os.Lchown(filepath.Join(root, "home/user"), uid, gid)
}

// StartProcess implements core.DataplaneEngine.
func (e *DataplaneEngine) StartProcess(ctx context.Context, id string, spec core.ProcessSpec,
	stdout, stderr io.Writer) (core.RunningProcess, error) {
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return nil, core.Errorf(core.ErrInvalidArgument, "a command is required")
	}
	root, err := e.RootDir(ctx, id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.specs = append(e.specs, spec)
	e.mu.Unlock()
	cmd := hostCommand(root, spec)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 250 * time.Millisecond // a background child may keep the output open
	p := &fakeProcess{cmd: cmd, sandbox: id, done: make(chan struct{})}
	if spec.Stdin {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		code := 127
		if errors.Is(err, fs.ErrPermission) {
			code = 126
		}
		_, _ = fmt.Fprintf(stderr, "%s: %v\n", spec.Argv[0], err)
		p.status = core.ExitStatus{Code: code}
		close(p.done)
		return p, nil
	}
	e.mu.Lock()
	e.procs[p] = true
	e.mu.Unlock()
	go func() {
		p.finish(cmd.Wait())
		e.mu.Lock()
		delete(e.procs, p)
		e.mu.Unlock()
	}()
	return p, nil
}

// hostCommand maps spec onto the host.
func hostCommand(root string, spec core.ProcessSpec) *exec.Cmd {
	argv := spec.Argv
	if argv[0] == core.SandboxBusybox {
		if bb, err := exec.LookPath("busybox"); err == nil {
			argv = append([]string{bb}, argv[1:]...)
		} else {
			argv = append([]string{"/bin/sh"}, argv[2:]...)
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = filepath.Join(root, filepath.Clean("/"+spec.Cwd))
	env := map[string]string{}
	var keys []string
	for _, kv := range append([]string{"PATH=" + os.Getenv("PATH"), "SNAPGATE_FAKE_ROOT=" + root}, spec.Env...) {
		k, v, _ := strings.Cut(kv, "=")
		if _, ok := env[k]; !ok {
			keys = append(keys, k)
		}
		env[k] = v
	}
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	return cmd
}

// KillSandboxProcesses SIGKILLs the sandbox's processes as a kill of the
// sandbox does: they end with SandboxEnded.
func (e *DataplaneEngine) KillSandboxProcesses(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for p := range e.procs {
		if p.sandbox == id {
			p.sandboxEnding.Store(true)
			_ = p.cmd.Process.Kill()
		}
	}
}

type fakeProcess struct {
	cmd           *exec.Cmd
	sandbox       string
	sandboxEnding atomic.Bool
	stdin         io.WriteCloser
	done          chan struct{}
	status        core.ExitStatus
}

func (p *fakeProcess) finish(error) {
	p.status = core.ExitStatus{Code: p.cmd.ProcessState.ExitCode()}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		p.status = core.ExitStatus{Code: -1, Signal: ws.Signal(), SandboxEnded: p.sandboxEnding.Load() && ws.Signal() == syscall.SIGKILL}
	}
	close(p.done)
}

func (p *fakeProcess) Stdin() io.WriteCloser { return p.stdin }

func (p *fakeProcess) Signal(_ context.Context, sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (p *fakeProcess) Wait(ctx context.Context) (core.ExitStatus, error) {
	select {
	case <-p.done:
		return p.status, nil
	case <-ctx.Done():
		return core.ExitStatus{}, ctx.Err()
	}
}
