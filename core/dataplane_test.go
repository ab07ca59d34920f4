package core_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
)

// dpEnv is a running sandbox (fake engine) with the dataplane over a
// host-process DataplaneEngine.
type dpEnv struct {
	*boxEnv
	dpe *coretest.DataplaneEngine
	dp  *core.Dataplane
	sb  *core.Sandbox
	tg  *core.Target
}

func newDPEnv(t *testing.T, tweak ...func(*core.DataplaneOptions)) *dpEnv {
	t.Helper()
	e := &dpEnv{boxEnv: newBoxEnv(t)}
	e.dpe = coretest.NewDataplaneEngine(t.TempDir(), e.eng.SandboxState)
	t.Cleanup(e.dpe.Close)
	opt := core.DataplaneOptions{Store: e.store, Engine: e.dpe, Sandboxes: e.boxes, Logger: slog.New(slog.DiscardHandler)}
	for _, f := range tweak {
		f(&opt)
	}
	var err error
	if e.dp, err = core.NewDataplane(opt); err != nil {
		t.Fatal(err)
	}
	e.sb, err = e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py", Env: map[string]string{"BOX": "1", "SHARED": "box"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.tg, err = e.dp.OpenByToken(t.Context(), e.sb.ID, e.sb.AccessToken); err != nil {
		t.Fatal(err)
	}
	return e
}

// root is the sandbox's directory on the host.
func (e *dpEnv) root(t *testing.T) string {
	t.Helper()
	dir, err := e.dpe.RootDir(t.Context(), e.sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func (e *dpEnv) start(t *testing.T, req core.StartProcessRequest) *core.Process {
	t.Helper()
	p, err := e.dp.Start(t.Context(), e.tg, req)
	if err != nil {
		t.Fatalf("Start(%q): %v", req.Argv, err)
	}
	return p
}

// collected is a process's whole event stream.
type collected struct {
	stdout, stderr string
	end            *core.ProcessInfo
	firstOffset    [2]int64
}

func collect(t *testing.T, p *core.Process, stdoutOff, stderrOff int64) collected {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var c collected
	c.firstOffset = [2]int64{-1, -1}
	for ev := range p.Events(ctx, stdoutOff, stderrOff) {
		switch {
		case ev.End != nil:
			c.end = ev.End
		case ev.Stream == core.Stdout:
			c.stdout += string(ev.Data)
		case ev.Stream == core.Stderr:
			c.stderr += string(ev.Data)
		}
		if ev.End == nil && c.firstOffset[ev.Stream-1] < 0 {
			c.firstOffset[ev.Stream-1] = ev.Offset
		}
	}
	if c.end == nil {
		t.Fatalf("event stream of %v ended without End", p.Info().Argv)
	}
	return c
}

func sh(script string) []string { return []string{"/bin/bash", "-l", "-c", script} }

func TestDataplaneRunsCommands(t *testing.T) {
	e := newDPEnv(t)
	p := e.start(t, core.StartProcessRequest{Argv: sh("echo out; echo err >&2; exit 3"), Env: map[string]string{"REQ": "2", "SHARED": "req"}, Tag: "t1"})
	c := collect(t, p, 0, 0)
	if c.stdout != "out\n" || c.stderr != "err\n" || c.end.Status.Code != 3 || !c.end.Exited || c.end.Tag != "t1" || c.end.PID != 1 {
		t.Errorf("got %+v, end %+v; want out, err, exit 3, tag t1, pid 1", c, *c.end)
	}
	spec := e.dpe.Specs()[0]
	wantEnv := []string{"HOME=/home/user", "USER=user", "LOGNAME=user", "BOX=1", "SHARED=box", "REQ=2", "SHARED=req"}
	if !slices.Equal(spec.Env, wantEnv) || spec.Cwd != "/home/user" || spec.UID == 0 || spec.Stdin {
		t.Errorf("spec %+v; want env %q, cwd /home/user, the user's uid, no stdin", spec, wantEnv)
	}
	if p2 := e.start(t, core.StartProcessRequest{Argv: []string{"/no/such/binary"}}); collect(t, p2, 0, 0).end.Status.Code != 127 {
		t.Errorf("missing binary: want exit 127")
	}
	if _, err := e.dp.Start(t.Context(), e.tg, core.StartProcessRequest{}); !errors.Is(err, core.ErrInvalidArgument) {
		t.Errorf("Start without argv: %v, want ErrInvalidArgument", err)
	}
}

func TestDataplaneUsersAndCwd(t *testing.T) {
	e := newDPEnv(t)
	root := e.root(t)
	os.MkdirAll(filepath.Join(root, "work/dir"), 0o755)
	cases := []struct {
		name, user, cwd string
		wantUID         bool // uid 0 wanted when false
		wantCwd         string
		wantErr         error
	}{
		{name: "default user", wantUID: true, wantCwd: "/home/user"},
		{name: "root", user: "root", wantCwd: "/root"},
		{name: "absolute cwd", cwd: "/work/dir", wantUID: true, wantCwd: "/work/dir"},
		{name: "relative cwd under home", user: "root", cwd: "../work", wantCwd: "/work"},
		{name: "tilde", cwd: "~", wantUID: true, wantCwd: "/home/user"},
		{name: "missing cwd", cwd: "/nope", wantErr: core.ErrInvalidArgument},
		{name: "unknown user", user: "mallory", wantErr: core.ErrUnauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := len(e.dpe.Specs())
			_, err := e.dp.Start(t.Context(), e.tg, core.StartProcessRequest{Argv: sh("true"), User: tc.user, Cwd: tc.cwd})
			if tc.wantErr != nil || err != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Start = %v, want %v", err, tc.wantErr)
				}
				return
			}
			spec := e.dpe.Specs()[n]
			if (spec.UID != 0) != tc.wantUID || spec.Cwd != tc.wantCwd {
				t.Errorf("uid %d cwd %q; want non-root %v, cwd %q", spec.UID, spec.Cwd, tc.wantUID, tc.wantCwd)
			}
		})
	}
	// An image without "user" runs the default as root, in /root or /.
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	os.RemoveAll(filepath.Join(root, "root"))
	e.start(t, core.StartProcessRequest{Argv: sh("true")})
	if spec := e.dpe.Specs()[len(e.dpe.Specs())-1]; spec.UID != 0 || spec.Cwd != "/" || !slices.Contains(spec.Env, "USER=root") {
		t.Errorf("without user: %+v, want root in /", spec)
	}
}

func TestDataplaneShellFallback(t *testing.T) {
	e := newDPEnv(t)
	root := e.root(t)
	last := func() []string { s := e.dpe.Specs(); return s[len(s)-1].Argv }
	e.start(t, core.StartProcessRequest{Argv: sh("echo")})
	if got := last(); got[0] != "/bin/bash" {
		t.Errorf("with bash: %q", got)
	}
	os.Remove(filepath.Join(root, "bin/bash"))
	c := collect(t, e.start(t, core.StartProcessRequest{Argv: sh("echo fell back")}), 0, 0)
	if got := last(); !slices.Equal(got, []string{"/bin/sh", "-l", "-c", "echo fell back"}) || c.stdout != "fell back\n" {
		t.Errorf("without bash: %q, output %q", got, c.stdout)
	}
	os.Remove(filepath.Join(root, "bin/sh"))
	c = collect(t, e.start(t, core.StartProcessRequest{Argv: sh("echo busybox")}), 0, 0)
	if got := last(); !slices.Equal(got, []string{core.SandboxBusybox, "sh", "-l", "-c", "echo busybox"}) || c.stdout != "busybox\n" {
		t.Errorf("without any shell: %q, output %q (stderr %q)", got, c.stdout, c.stderr)
	}
	e.start(t, core.StartProcessRequest{Argv: []string{"/usr/bin/python3", "-c", "1"}})
	if got := last(); got[0] != "/usr/bin/python3" {
		t.Errorf("a missing non-shell is run as asked, got %q", got)
	}
}

// A process its sandbox's kill took down says so, unlike one that killed
// itself with the same signal.
func TestDataplaneProcessEndedBySandboxKill(t *testing.T) {
	e := newDPEnv(t)
	p := e.start(t, core.StartProcessRequest{Argv: sh("sleep 30")})
	e.dpe.KillSandboxProcesses(e.sb.ID)
	if info, err := p.Wait(t.Context()); err != nil || !info.Status.SandboxEnded {
		t.Errorf("killed with its sandbox: %+v %v, want SandboxEnded", info, err)
	}
	self := e.start(t, core.StartProcessRequest{Argv: sh("kill -9 $$")})
	if info, err := self.Wait(t.Context()); err != nil || info.Status.SandboxEnded || info.Status.Signal != syscall.SIGKILL {
		t.Errorf("killed itself: %+v %v, want SIGKILL without SandboxEnded", info, err)
	}
}

func TestDataplaneStdinAndSignals(t *testing.T) {
	e := newDPEnv(t)
	p := e.start(t, core.StartProcessRequest{Argv: []string{"cat"}, Stdin: true})
	for _, s := range []string{"hello ", "world"} {
		if err := p.WriteStdin(t.Context(), []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.CloseStdin(t.Context()); err != nil {
		t.Fatal(err)
	}
	_ = p.CloseStdin(t.Context())
	if c := collect(t, p, 0, 0); c.stdout != "hello world" || c.end.Status.Code != 0 {
		t.Errorf("cat got %q, exit %+v", c.stdout, c.end.Status)
	}
	if err := p.WriteStdin(t.Context(), []byte("late")); !errors.Is(err, core.ErrFailedPrecondition) {
		t.Errorf("write after exit: %v", err)
	}
	noStdin := e.start(t, core.StartProcessRequest{Argv: []string{"cat"}})
	if c := collect(t, noStdin, 0, 0); c.stdout != "" || c.end.Status.Code != 0 {
		t.Errorf("cat without stdin: %q %+v", c.stdout, c.end.Status)
	}
	if err := noStdin.WriteStdin(t.Context(), []byte("x")); !errors.Is(err, core.ErrFailedPrecondition) {
		t.Errorf("write to a process without stdin: %v", err)
	}

	loop := e.start(t, core.StartProcessRequest{Argv: sh("while :; do echo tick; sleep 0.02; done")})
	for ev := range loop.Events(t.Context(), 0, 0) {
		if ev.Stream == core.Stdout {
			break // it streams: now kill it
		}
	}
	if err := loop.Signal(t.Context(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if info, err := loop.Wait(t.Context()); err != nil || info.Status.Signal != syscall.SIGKILL || info.TimedOut {
		t.Errorf("killed: %+v %v", info, err)
	}
	if err := loop.Signal(t.Context(), syscall.SIGKILL); err != nil {
		t.Errorf("signal to an exited process: %v", err)
	}
	slow := e.start(t, core.StartProcessRequest{Argv: sh("sleep 10"), Timeout: 100 * time.Millisecond})
	if info, _ := slow.Wait(t.Context()); !info.TimedOut || info.Status.Signal != syscall.SIGKILL {
		t.Errorf("past its timeout: %+v", info)
	}
}

func TestDataplaneReattachAndBuffer(t *testing.T) {
	e := newDPEnv(t, func(o *core.DataplaneOptions) { o.OutputBuffer = 16 })
	p := e.start(t, core.StartProcessRequest{Argv: sh("printf 'hello world'; printf 'E' >&2")})
	if c := collect(t, p, 6, 1); c.stdout != "world" || c.stderr != "" || c.firstOffset[0] != 6 {
		t.Errorf("from offsets 6,1: %+v", c)
	}
	long := e.start(t, core.StartProcessRequest{Argv: sh("printf '0123456789abcdefghij'")})
	long.Wait(t.Context())
	if c := collect(t, long, 0, 0); c.stdout != "456789abcdefghij" || c.firstOffset[0] != 4 {
		t.Errorf("past the buffer: %q from %d, want the last 16 bytes from 4", c.stdout, c.firstOffset[0])
	}
	// Several readers at once see the same stream.
	multi := e.start(t, core.StartProcessRequest{Argv: sh("sleep 0.2; echo a; sleep 0.1; echo b")})
	var wg sync.WaitGroup
	outs := make([]string, 3)
	for i := range outs {
		wg.Go(func() { outs[i] = collect(t, multi, 0, 0).stdout })
	}
	wg.Wait()
	for _, o := range outs {
		if o != "a\nb\n" {
			t.Errorf("a reader got %q", outs)
			break
		}
	}
}

func TestDataplaneIdempotencyKey(t *testing.T) {
	e := newDPEnv(t)
	req := core.StartProcessRequest{Argv: sh("echo once"), Key: "cmd-1"}
	var wg sync.WaitGroup
	procs := make([]*core.Process, 4)
	for i := range procs {
		wg.Go(func() { procs[i], _ = e.dp.Start(t.Context(), e.tg, req) })
	}
	wg.Wait()
	for _, p := range procs {
		if p == nil || p != procs[0] {
			t.Fatalf("starts with one key gave %v", procs)
		}
	}
	if n := len(e.dpe.Specs()); n != 1 {
		t.Errorf("%d processes started for one key", n)
	}
	if p, err := e.dp.ProcessByKey(t.Context(), e.tg, "cmd-1"); err != nil || p != procs[0] {
		t.Errorf("ProcessByKey = %v, %v", p, err)
	}
	if _, err := e.dp.ProcessByKey(t.Context(), e.tg, "other"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("unknown key: %v", err)
	}
}

func TestDataplaneProcessBookkeeping(t *testing.T) {
	e := newDPEnv(t, func(o *core.DataplaneOptions) { o.FinishedTTL = 200 * time.Millisecond })
	running := e.start(t, core.StartProcessRequest{Argv: sh("sleep 10"), Tag: "long"})
	done := e.start(t, core.StartProcessRequest{Argv: sh("true")})
	done.Wait(t.Context())
	list, err := e.dp.Processes(t.Context(), e.tg)
	if err != nil || len(list) != 1 || list[0].PID != running.Info().PID || list[0].Tag != "long" {
		t.Errorf("Processes = %+v, %v; want only the running one", list, err)
	}
	if p, err := e.dp.Process(t.Context(), e.tg, done.Info().PID); err != nil || p != done {
		t.Errorf("exited process by pid: %v", err)
	}
	// Another sandbox does not see them, and numbers its own from 1.
	other, _ := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	otg, err := e.dp.OpenByToken(t.Context(), other.ID, other.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.dp.Process(t.Context(), otg, running.Info().PID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("process of another sandbox: %v", err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := e.dp.Process(t.Context(), e.tg, done.Info().PID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("exited process after FinishedTTL: %v", err)
	}
	running.Signal(t.Context(), syscall.SIGKILL)
}

func TestDataplaneOpen(t *testing.T) {
	e := newDPEnv(t)
	if _, err := e.dp.OpenByToken(t.Context(), e.sb.ID, "wrong"); !errors.Is(err, core.ErrUnauthenticated) {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := e.dp.OpenByToken(t.Context(), e.sb.ID, ""); !errors.Is(err, core.ErrUnauthenticated) {
		t.Errorf("no token: %v", err)
	}
	if _, err := e.dp.OpenByToken(t.Context(), "inope", e.sb.AccessToken); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("unknown sandbox: %v", err)
	}
	e.checkSignedURLs(t)
	if tg, err := e.dp.OpenForPrincipal(e.ctx, e.sb.Name); err != nil || tg.Sandbox.ID != e.sb.ID {
		t.Errorf("by name: %v", err)
	}
	if err := e.boxes.Pause(e.ctx, e.sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dp.OpenByToken(t.Context(), e.sb.ID, e.sb.AccessToken); !errors.Is(err, core.ErrNotFound) ||
		!strings.Contains(core.PublicMessage(err), "not running") {
		t.Errorf("paused, by token: %v, want ErrNotFound (not running)", err)
	}
	other := core.WithPrincipal(t.Context(), core.Principal{TenantID: "tenant-b"})
	if _, err := e.dp.OpenForPrincipal(other, e.sb.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("other tenant: %v", err)
	}
	tg, err := e.dp.OpenForPrincipal(e.ctx, e.sb.ID)
	if err != nil || tg.Sandbox.State != core.SandboxRunning {
		t.Fatalf("paused, for its tenant: %+v, %v; want resumed", tg, err)
	}
	if st, _ := e.eng.SandboxState(t.Context(), e.sb.ID); st != core.RuntimeRunning {
		t.Errorf("engine state after OpenForPrincipal: %s", st)
	}
	if err := e.boxes.Kill(e.ctx, e.sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dp.OpenByToken(t.Context(), e.sb.ID, e.sb.AccessToken); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("killed: %v", err)
	}
}

func (e *dpEnv) checkSignedURLs(t *testing.T) {
	t.Helper()
	// As the SDKs compute it: v1_ + unpadded base64 of sha256.
	sum := sha256.Sum256([]byte("/home/user/a.txt:read::" + e.sb.AccessToken + ":4102444800"))
	valid := core.FileSignature{Path: "/home/user/a.txt", Operation: "read", Expires: 4102444800,
		Signature: "v1_" + base64.RawStdEncoding.EncodeToString(sum[:])}
	if core.SignFile(valid, e.sb.AccessToken) != valid.Signature {
		t.Errorf("SignFile = %s, want %s", core.SignFile(valid, e.sb.AccessToken), valid.Signature)
	}
	if _, err := e.dp.OpenBySignature(t.Context(), e.sb.ID, valid); err != nil {
		t.Errorf("valid signature: %v", err)
	}
	forever := core.FileSignature{Path: "x", Operation: "write", User: "root"}
	forever.Signature = core.SignFile(forever, e.sb.AccessToken)
	if _, err := e.dp.OpenBySignature(t.Context(), e.sb.ID, forever); err != nil {
		t.Errorf("signature without expiry: %v", err)
	}
	other := valid
	other.Path = "/etc/shadow"
	expired := core.FileSignature{Path: "x", Operation: "read", Expires: time.Now().Add(-time.Minute).Unix()}
	expired.Signature = core.SignFile(expired, e.sb.AccessToken)
	for name, sig := range map[string]core.FileSignature{"other path": other, "expired": expired, "none": {Path: "x"}} {
		if _, err := e.dp.OpenBySignature(t.Context(), e.sb.ID, sig); !errors.Is(err, core.ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", name, err)
		}
	}
}
