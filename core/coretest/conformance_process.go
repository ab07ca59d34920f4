package coretest

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// LockedBuffer is a bytes.Buffer the engine may write from its goroutines
// (a process's output copiers).
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// wantProcessRefused checks that a command in sandbox id is refused with kind.
func wantProcessRefused(t *testing.T, env EngineEnv, id string, kind error) {
	t.Helper()
	if env.Processes == nil {
		return
	}
	p, err := env.Processes.StartProcess(t.Context(), id, core.ProcessSpec{Argv: []string{"true"}}, io.Discard, io.Discard)
	if err == nil {
		_, _ = p.Wait(t.Context())
	}
	wantKind(t, "StartProcess in sandbox "+id, err, kind)
}

// runProcess runs spec in sandbox id and returns how it ended and its output.
func runProcess(t *testing.T, env EngineEnv, id string, spec core.ProcessSpec) (core.ExitStatus, string, string) {
	t.Helper()
	var out, errOut LockedBuffer
	p, err := env.Processes.StartProcess(t.Context(), id, spec, &out, &errOut)
	if err != nil {
		t.Fatalf("StartProcess(%q): %v", spec.Argv, err)
	}
	st, err := p.Wait(t.Context())
	if err != nil {
		t.Fatalf("Wait(%q): %v", spec.Argv, err)
	}
	return st, out.String(), errOut.String()
}

// Exit codes and both outputs come back as the process made them; a
// missing binary is an exit code (127), not an error; the request's env
// reaches the process; stdin is a pipe when asked for, else empty.
func testProcesses(t *testing.T, env EngineEnv) {
	if env.Processes == nil {
		t.Skip("no process starter")
	}
	id := start(t, env)
	cases := []struct {
		name             string
		spec             core.ProcessSpec
		code             int
		stdout, inStderr string
	}{
		{"exit code and streams", core.ProcessSpec{Argv: []string{"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}}, 3, "out\n", "err"},
		{"exit 137 is not a signal", core.ProcessSpec{Argv: []string{"/bin/sh", "-c", "exit 137"}}, 137, "", ""},
		{"missing binary", core.ProcessSpec{Argv: []string{"/no/such/binary"}}, 127, "", "/no/such/binary"},
		{"env", core.ProcessSpec{Argv: []string{"/bin/sh", "-c", `echo "$CONFORMANCE"`}, Env: []string{"CONFORMANCE=a", "CONFORMANCE=b"}}, 0, "b\n", ""},
		{"no stdin is EOF", core.ProcessSpec{Argv: []string{"cat"}}, 0, "", ""},
	}
	for _, tc := range cases {
		tc.spec.Cwd = "/"
		st, out, errOut := runProcess(t, env, id, tc.spec)
		if st.Code != tc.code || st.Signal != 0 || out != tc.stdout || !strings.Contains(errOut, tc.inStderr) {
			t.Errorf("%s: got %+v, %q, %q; want code %d, %q, stderr with %q", tc.name, st, out, errOut, tc.code, tc.stdout, tc.inStderr)
		}
	}
	_, err := env.Processes.StartProcess(t.Context(), id, core.ProcessSpec{}, io.Discard, io.Discard)
	wantKind(t, "StartProcess without argv", err, core.ErrInvalidArgument)

	var out LockedBuffer
	p, err := env.Processes.StartProcess(t.Context(), id, core.ProcessSpec{Argv: []string{"cat"}, Stdin: true, Cwd: "/"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(p.Stdin(), "through stdin"); err != nil {
		t.Errorf("write stdin: %v", err)
	}
	_ = p.Stdin().Close()
	if st, err := p.Wait(t.Context()); err != nil || st.Code != 0 || out.String() != "through stdin" {
		t.Errorf("cat with stdin: %+v, %v, %q", st, err, out.String())
	}
}

// A signal ends a process with Code -1 and the signal; a signal to a
// process that already ended is not an error.
func testProcessSignals(t *testing.T, env EngineEnv) {
	if env.Processes == nil {
		t.Skip("no process starter")
	}
	ctx := t.Context()
	id := start(t, env)
	var out LockedBuffer
	p, err := env.Processes.StartProcess(ctx, id, core.ProcessSpec{Argv: []string{"/bin/sh", "-c", "echo up; exec sleep 300"}, Cwd: "/"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); out.String() == "" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Signal(ctx, syscall.SIGKILL); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	if st, err := p.Wait(ctx); err != nil || st.Code != -1 || st.Signal != syscall.SIGKILL {
		t.Errorf("killed process: %+v, %v; want code -1 and SIGKILL", st, err)
	}
	if err := p.Signal(ctx, syscall.SIGTERM); err != nil {
		t.Errorf("Signal after exit = %v, want nil", err)
	}
}
