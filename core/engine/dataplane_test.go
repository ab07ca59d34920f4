package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// boxStore is the part of core.Store the dataplane reads: its sandboxes.
type boxStore struct {
	core.Store
	boxes map[string]*core.Sandbox
}

func (s boxStore) GetSandbox(_ context.Context, _, id string) (*core.Sandbox, error) {
	if sb, ok := s.boxes[id]; ok {
		cp := *sb
		return &cp, nil
	}
	return nil, core.Errorf(core.ErrNotFound, "sandbox %s not found", id)
}

// dataplane runs core's dataplane on the test's engine for sandbox id.
func (e *env) dataplane(t *testing.T, id string) (*core.Dataplane, *core.Target) {
	t.Helper()
	sb := &core.Sandbox{ID: id, State: core.SandboxRunning, AccessToken: "token-" + id, Env: map[string]string{"BOX": "box"}}
	dp, err := core.NewDataplane(core.DataplaneOptions{
		Store: boxStore{boxes: map[string]*core.Sandbox{id: sb}}, Engine: e.eng, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := dp.OpenByToken(t.Context(), id, sb.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	return dp, tg
}

// output runs req through the dataplane and returns its stdout and end.
func output(t *testing.T, dp *core.Dataplane, tg *core.Target, req core.StartProcessRequest) (string, core.ProcessInfo) {
	t.Helper()
	p, err := dp.Start(t.Context(), tg, req)
	if err != nil {
		t.Fatalf("Start(%q): %v", req.Argv, err)
	}
	var out, errOut strings.Builder
	for ev := range p.Events(t.Context(), 0, 0) {
		switch {
		case ev.End != nil:
			if ev.End.Status.Code != 0 && !ev.End.TimedOut {
				t.Logf("%q exited %+v; stderr %q", req.Argv, ev.End.Status, errOut.String())
			}
			return out.String(), *ev.End
		case ev.Stream == core.Stdout:
			out.Write(ev.Data)
		default:
			errOut.Write(ev.Data)
		}
	}
	t.Fatalf("%q: no end event", req.Argv)
	return "", core.ProcessInfo{}
}

func bash(script string) []string { return []string{"/bin/bash", "-l", "-c", script} }

func TestDataplaneCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.start(t, e.pullSandboxImage(t, "dpcmd"))
	dp, tg := e.dataplane(t, id)
	out, end := output(t, dp, tg, core.StartProcessRequest{Argv: bash(`echo "$USER $HOME $BOX $REQ"; pwd; id -u; id -G`), Env: map[string]string{"REQ": "req"}})
	if want := "user /home/user box req\n/home/user\n1000\n1000\n"; out != want || end.Status.Code != 0 {
		t.Errorf("as the default user: %q %+v, want %q", out, end.Status, want)
	}
	if out, _ := output(t, dp, tg, core.StartProcessRequest{Argv: bash("id -u; pwd"), User: "root", Cwd: "/tmp"}); out != "0\n/tmp\n" {
		t.Errorf("as root in /tmp: %q", out)
	}
	if out, _ := output(t, dp, tg, core.StartProcessRequest{Argv: []string{"/bin/zsh", "-c", "echo no zsh here"}}); out != "no zsh here\n" {
		t.Errorf("a missing shell falls back to sh: %q", out)
	}
	if _, end := output(t, dp, tg, core.StartProcessRequest{Argv: bash("sleep 30"), Timeout: 300 * time.Millisecond}); !end.TimedOut || end.Status.Signal != syscall.SIGKILL {
		t.Errorf("past its timeout: %+v", end)
	}

	p, err := dp.Start(t.Context(), tg, core.StartProcessRequest{Argv: bash("read line; echo got $line; echo done >&2"), Stdin: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WriteStdin(t.Context(), []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	p.CloseStdin(t.Context())
	info, err := p.Wait(t.Context())
	if err != nil || info.Status.Code != 0 {
		t.Fatalf("stdin process: %+v, %v", info, err)
	}
	var again []string // re-attached after the exit, from offsets
	for ev := range p.Events(t.Context(), 4, 0) {
		if ev.End == nil {
			again = append(again, string(ev.Data))
		}
	}
	if !slices.Equal(again, []string{"hello\n", "done\n"}) {
		t.Errorf("re-attach from offsets 4,0: %q", again)
	}
}

// An image without shell, libc or "user": commands run as root with the
// sandbox's busybox.
func TestDataplaneBareImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	img := e.pullFilesOnlyImage(t, map[string]string{"/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "/data/x": "x"})
	id := e.start(t, img)
	dp, tg := e.dataplane(t, id)
	out, end := output(t, dp, tg, core.StartProcessRequest{Argv: bash("echo $USER; pwd; read -r x < /data/x; echo $x")})
	if out != "root\n/\nx\n" || end.Status.Code != 0 {
		t.Errorf("got %q %+v", out, end.Status)
	}
}

func TestDataplaneFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.start(t, e.pullSandboxImage(t, "dpfiles"))
	dp, tg := e.dataplane(t, id)
	f, err := dp.Files(t.Context(), tg, "")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(t.Context(), "dir/a.txt", strings.NewReader("from files")); err != nil {
		t.Fatal(err)
	}
	if got := e.sh(t, id, "cat /home/user/dir/a.txt; stat -c ' %U:%G' /home/user/dir /home/user/dir/a.txt"); got != "from files user:user\n user:user\n" {
		t.Errorf("the sandbox sees %q", got)
	}
	e.sh(t, id, "echo from sandbox > /tmp/b.txt; chown 1000 /tmp/b.txt")
	st, err := f.Stat(t.Context(), "/tmp/b.txt")
	if err != nil || st.Owner != "user" || st.Group != "root" || st.Size != 13 {
		t.Errorf("Stat of a file made inside: %+v, %v", st, err)
	}
	entries, err := f.List(t.Context(), "/", 1)
	if err != nil || !slices.ContainsFunc(entries, func(fi core.FileInfo) bool { return fi.Path == "/bin" && fi.Type == core.FileTypeDir }) {
		t.Errorf("List / = %v, %v", entries, err)
	}

	const size = 100 << 20
	h := sha256.New()
	start := time.Now()
	info, err := f.Write(t.Context(), "/tmp/big", io.TeeReader(io.LimitReader(pattern{}, size), h))
	if err != nil || info.Size != size {
		t.Fatalf("100 MiB write: %+v, %v", info, err)
	}
	t.Logf("100 MiB written in %s", time.Since(start))
	if got := e.sh(t, id, "sha256sum /tmp/big | cut -d' ' -f1"); got != hex.EncodeToString(h.Sum(nil))+"\n" {
		t.Errorf("sha256 inside the sandbox %q", got)
	}
	// An open Files (or Watch) does not keep the sandbox from going away.
	if err := e.eng.KillSandbox(t.Context(), id); err != nil {
		t.Errorf("KillSandbox with its files open: %v", err)
	}
	if _, err := dp.Files(t.Context(), tg, ""); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Files of a killed sandbox: %v", err)
	}
}

// pattern is an endless non-zero stream.
type pattern struct{}

func (pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(i * 7)
	}
	return len(b), nil
}

// Symlinks made inside the sandbox resolve inside it, never on the host.
func TestDataplaneFilesNeverEscape(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.start(t, e.pullSandboxImage(t, "dpescape"))
	e.sh(t, id, `echo sandbox-shadow > /etc/shadow; cd /home/user
		ln -s /etc/shadow shadow; ln -s ../../../../../.. up; ln -s /proc/1/root pid1root
		ln -s ../../../../../../etc/shadow upshadow; ln -s /../../tmp written`)
	dp, tg := e.dataplane(t, id)
	f, err := dp.Files(t.Context(), tg, "")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range []string{"shadow", "upshadow", "up/etc/shadow", "/../../../etc/shadow", "pid1root/etc/shadow"} {
		r, _, err := f.Open(t.Context(), p)
		if err != nil {
			t.Errorf("open %s: %v", p, err)
			continue
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if string(b) != "sandbox-shadow\n" {
			t.Errorf("%s read %q, want the sandbox's /etc/shadow", p, b)
		}
	}
	entries, _ := f.List(t.Context(), "up", 1)
	for _, fi := range entries {
		if fi.Name == "work" || fi.Name == "usr" && fi.Type != core.FileTypeDir {
			t.Errorf("listing up/ shows %s: the host's root?", fi.Path)
		}
	}
	if !slices.ContainsFunc(entries, func(fi core.FileInfo) bool { return fi.Name == ".snapgate" }) {
		t.Errorf("listing up/ = %v, want the sandbox's root", entries)
	}
	if _, err := f.Write(t.Context(), "written/through", strings.NewReader("w")); err != nil {
		t.Fatal(err)
	}
	if got := e.sh(t, id, "cat /tmp/through"); got != "w" {
		t.Errorf("write through a symlink: sandbox has %q", got)
	}
}

func TestDataplaneWatchSeesCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.start(t, e.pullSandboxImage(t, "dpwatch"))
	dp, tg := e.dataplane(t, id)
	f, err := dp.Files(t.Context(), tg, "")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ch, err := f.Watch(ctx, "/home/user", true)
	if err != nil {
		t.Fatal(err)
	}
	e.sh(t, id, "mkdir -p /home/user/d && echo hi > /home/user/d/f && chmod 600 /home/user/d/f")
	got := map[string]core.FileEventType{}
	for len(got) < 2 {
		select {
		case ev := <-ch:
			got[ev.Name] = ev.Type
		case <-ctx.Done():
			t.Fatalf("events so far %v", got)
		}
	}
	if got["d"] != core.FileCreated || got["d/f"] != core.FileCreated {
		t.Errorf("events %v, want d and d/f created", got)
	}
	e.sh(t, id, "rm -r /home/user/d")
	for got["d"] != core.FileRemoved {
		select {
		case ev := <-ch:
			got[ev.Name] = ev.Type
		case <-ctx.Done():
			t.Fatalf("no removal: %v", got)
		}
	}
	if err := e.eng.PauseSandbox(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := dp.Start(t.Context(), tg, core.StartProcessRequest{Argv: bash("true")}); !errors.Is(err, core.ErrFailedPrecondition) {
		t.Errorf("Start in a paused sandbox: %v", err)
	}
}
