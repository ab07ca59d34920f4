package engine_test

import (
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
)

// run starts spec in sandbox id and waits for it.
func (e *env) run(t *testing.T, id string, spec core.ProcessSpec) (core.ExitStatus, string, string) {
	t.Helper()
	var out, errb coretest.LockedBuffer
	p, err := e.eng.StartProcess(t.Context(), id, spec, &out, &errb)
	if err != nil {
		t.Fatalf("StartProcess(%q): %v", spec.Argv, err)
	}
	st, err := p.Wait(t.Context())
	if err != nil {
		t.Fatalf("Wait(%q): %v", spec.Argv, err)
	}
	return st, out.String(), errb.String()
}

func TestProcessOutputExitAndMissingBinaries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.start(t, e.pullSandboxImage(t, "process"))
	e.sh(t, id, "printf 'echo x' > /notexec; chmod 644 /notexec")
	cases := []struct {
		name             string
		argv             []string
		code             int
		stdout, inStderr string
	}{
		{"streams and exit code", []string{"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, 3, "out\n", "err"},
		{"missing binary", []string{"/no/such/binary"}, 127, "", "/no/such/binary: command not found"},
		{"not executable", []string{"/notexec"}, 126, "", "permission denied"},
		{"no stdin is EOF", []string{"cat"}, 0, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, out, errOut := e.run(t, id, core.ProcessSpec{Argv: tc.argv, Cwd: "/"})
			if st.Code != tc.code || out != tc.stdout || !strings.Contains(errOut, tc.inStderr) {
				t.Errorf("got %+v, %q, %q; want %d, %q, stderr with %q", st, out, errOut, tc.code, tc.stdout, tc.inStderr)
			}
		})
	}
	// 10 MiB of output, whole.
	st, out, _ := e.run(t, id, core.ProcessSpec{Argv: []string{"/bin/sh", "-c", "head -c 10485760 /dev/zero"}})
	if st.Code != 0 || len(out) != 10<<20 {
		t.Errorf("10 MiB output: %+v, %d bytes", st, len(out))
	}
	// A background child keeping stdout open does not hold Wait.
	start := time.Now()
	if st, out, _ := e.run(t, id, core.ProcessSpec{Argv: []string{"/bin/sh", "-c", "sleep 30 & echo started"}}); st.Code != 0 || out != "started\n" {
		t.Errorf("background child: %+v %q", st, out)
	}
	// The child sleeps 30 s: a Wait held by it would take that long. The
	// bound is loose on purpose (a loaded machine is slow, not wrong).
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Wait took %s with a background child", d)
	}
}

func TestProcessUserCwdEnv(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.start(t, e.pullSandboxImage(t, "procuser"), func(s *core.SandboxSpec) { s.Env = map[string]string{"BOX": "box"} })
	st, out, errOut := e.run(t, id, core.ProcessSpec{
		Argv: []string{"/bin/sh", "-c", `id -u; id -g; id -G; pwd; echo "$BOX $REQ $HOME $PATH"; touch f; stat -c %u f`},
		Env:  []string{"REQ=req", "HOME=/home/user"}, Cwd: "/home/user",
		UID: 1000, GID: 1000, AdditionalGIDs: []uint32{1000, 2000},
	})
	want := "1000\n1000\n1000 2000\n/home/user\nbox req /home/user /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n1000\n"
	if st.Code != 0 || out != want {
		t.Errorf("got %+v %q (stderr %q), want %q", st, out, errOut, want)
	}
}

func TestProcessStdinAndSignals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	id := e.start(t, e.pullSandboxImage(t, "procstdin"))
	var out coretest.LockedBuffer
	p, err := e.eng.StartProcess(ctx, id, core.ProcessSpec{Argv: []string{"cat"}, Stdin: true}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("0123456789", 20000) // more than a pipe holds
	go func() {
		time.Sleep(100 * time.Millisecond) // well after the start
		_, _ = io.WriteString(p.Stdin(), payload)
		_ = p.Stdin().Close()
	}()
	if st, err := p.Wait(ctx); err != nil || st.Code != 0 || out.String() != payload {
		t.Errorf("cat: %+v, %v, %d bytes back of %d", st, err, len(out.String()), len(payload))
	}
	if _, err := p.Stdin().Write([]byte("late")); err == nil {
		t.Error("stdin write after exit succeeded")
	}

	var ticks coretest.LockedBuffer
	loop, err := e.eng.StartProcess(ctx, id, core.ProcessSpec{Argv: []string{"/bin/sh", "-c", "while :; do echo tick; sleep 0.05; done"}}, &ticks, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ticks.String() == "" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if err := loop.Signal(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st, err := loop.Wait(ctx); err != nil || st.Signal != syscall.SIGKILL || st.Code != -1 {
		t.Errorf("killed mid-stream: %+v, %v", st, err)
	}
	if err := loop.Signal(ctx, syscall.SIGTERM); err != nil {
		t.Errorf("signal after exit: %v", err)
	}
	if st, _, _ := e.run(t, id, core.ProcessSpec{Argv: []string{"/bin/sh", "-c", "exit 137"}}); st.Code != 137 || st.Signal != 0 {
		t.Errorf("exit 137 without a signal sent: %+v", st)
	}

	// A kill reaches what the command started: the shell's child sleep
	// must not outlive it.
	var started coretest.LockedBuffer
	tree, err := e.eng.StartProcess(ctx, id, core.ProcessSpec{Argv: []string{"/bin/sh", "-c", "echo up; sleep 321; echo after"}}, &started, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); started.String() == "" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the shell forks sleep after echo
	if err := tree.Signal(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := tree.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if ps := e.sh(t, id, "ps -o args | grep 'sleep 321' | grep -v grep || true"); ps != "" {
		t.Errorf("the killed command's child still runs: %q", ps)
	}
}

func TestProcessStateErrorsAndOpenFS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	id := e.start(t, e.pullSandboxImage(t, "rootfs"))
	if _, err := e.eng.StartProcess(ctx, "sb-missing", core.ProcessSpec{Argv: []string{"true"}}, io.Discard, io.Discard); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("missing sandbox: %v", err)
	}
	if _, err := e.eng.OpenFS(ctx, "sb-missing"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("OpenFS of a missing sandbox: %v", err)
	}
	fsys, err := e.eng.OpenFS(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	w, err := fsys.Create(ctx, "/tmp/from-host", core.Owner{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.WriteString(w, "hello sandbox")
	if cerr := w.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	if got := e.sh(t, id, "cat /tmp/from-host; echo inside > /tmp/from-sandbox"); got != "hello sandbox" {
		t.Errorf("the sandbox sees %q", got)
	}
	if b := readFS(t, fsys, "/tmp/from-sandbox"); b != "inside\n" {
		t.Errorf("the host sees %q", b)
	}
	if _, err := fsys.Stat(ctx, core.SandboxBusybox, false); err != nil {
		t.Errorf("the busybox mount is not visible through OpenFS: %v", err)
	}

	if err := e.eng.PauseSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.StartProcess(ctx, id, core.ProcessSpec{Argv: []string{"true"}}, io.Discard, io.Discard); !errors.Is(err, core.ErrFailedPrecondition) {
		t.Errorf("paused: %v", err)
	}
	paused, err := e.eng.OpenFS(ctx, id)
	if err != nil {
		t.Fatalf("OpenFS while paused: %v", err)
	}
	defer paused.Close()
	if b := readFS(t, paused, "/tmp/from-sandbox"); b != "inside\n" {
		t.Errorf("files of a paused sandbox: %q", b)
	}
}

// readFS reads the file p of fsys.
func readFS(t *testing.T, fsys core.SandboxFS, p string) string {
	t.Helper()
	r, _, err := fsys.Open(t.Context(), p)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

// A command's SIGKILL from its sandbox's kill is the sandbox's end; the
// same signal the command sends itself stays an exit 137.
func TestProcessEndedBySandboxKill(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.start(t, e.pullSandboxImage(t, "killed"))
	if st, _, _ := e.run(t, id, core.ProcessSpec{Argv: []string{"/bin/sh", "-c", "kill -9 $$"}}); st.Code != 137 || st.SandboxEnded {
		t.Errorf("kill -9 $$: %+v, want exit 137", st)
	}
	p, err := e.eng.StartProcess(t.Context(), id, core.ProcessSpec{Argv: []string{"sleep", "30"}}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.eng.KillSandbox(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if st, err := p.Wait(t.Context()); err != nil || !st.SandboxEnded {
		t.Errorf("killed with its sandbox: %+v %v, want SandboxEnded", st, err)
	}
}
