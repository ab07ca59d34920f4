package coretest

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// SandboxFSEnv is a sandbox's filesystem under RunSandboxFSConformance.
type SandboxFSEnv struct {
	FS core.SandboxFS
	// Owner is an owner FS can give what it makes (a test process that is
	// not root can give only its own ids).
	Owner core.Owner
	// Symlink makes a symlink at p to target, and Mkfifo a FIFO at p, as a
	// process in the sandbox would: behind FS's back. p is absolute in
	// the sandbox, and its directory exists.
	Symlink func(t *testing.T, target, p string)
	Mkfifo  func(t *testing.T, p string)
}

// RunSandboxFSConformance checks what core relies on from a SandboxFS:
// owners, symlinks that resolve inside the sandbox, refusals of what is
// not a regular file (never a hang), walks, the errnos core classifies.
// The engine's (core/engine on /proc/<pid>/root) and the fakes' (DirFS)
// pass it; an engine that serves files another way (an agent in a
// microVM) must too. Each case works in a directory of its own under
// /conformance, in parallel with the others.
func RunSandboxFSConformance(t *testing.T, env SandboxFSEnv) {
	cases := []struct {
		name string
		run  func(t *testing.T, env SandboxFSEnv, dir string)
	}{
		{"CreateOpenStat", testFSCreateOpenStat},
		{"Symlinks", testFSSymlinks},
		{"Refusals", testFSRefusals},
		{"MkdirAll", testFSMkdirAll},
		{"Walk", testFSWalk},
		{"RenameRemove", testFSRenameRemove},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := "/conformance/" + tc.name
			if err := env.FS.MkdirAll(t.Context(), dir, env.Owner); err != nil {
				t.Fatal(err)
			}
			tc.run(t, env, dir)
		})
	}
}

// put creates p holding body, owned by env.Owner.
func put(t *testing.T, env SandboxFSEnv, p, body string) core.FileStat {
	t.Helper()
	w, err := env.FS.Create(t.Context(), p, env.Owner)
	if err != nil {
		t.Fatalf("Create %s: %v", p, err)
	}
	_, err = io.WriteString(w, body)
	st, serr := w.Stat()
	if cerr := w.Close(); err != nil || serr != nil || cerr != nil {
		t.Fatalf("write %s: %v, stat %v, close %v", p, err, serr, cerr)
	}
	return st
}

// get reads p.
func get(t *testing.T, env SandboxFSEnv, p string) (string, error) {
	t.Helper()
	r, _, err := env.FS.Open(t.Context(), p)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

func testFSCreateOpenStat(t *testing.T, env SandboxFSEnv, dir string) {
	p := dir + "/a/b/file"
	if st := put(t, env, p, "hello"); st.Size != 5 || !st.Mode.IsRegular() || st.UID != env.Owner.UID || st.GID != env.Owner.GID {
		t.Errorf("written file = %+v, want 5 bytes owned by %+v", st, env.Owner)
	}
	if got, err := get(t, env, p); got != "hello" || err != nil {
		t.Errorf("read back %q, %v", got, err)
	}
	for _, d := range []string{dir + "/a", dir + "/a/b"} {
		if st, err := env.FS.Stat(t.Context(), d, false); err != nil || !st.Mode.IsDir() || st.UID != env.Owner.UID || st.GID != env.Owner.GID {
			t.Errorf("parent %s = %+v, %v; want a directory owned by %+v", d, st, err, env.Owner)
		}
	}
	put(t, env, p, "hi")
	if got, _ := get(t, env, p); got != "hi" {
		t.Errorf("Create truncates: read %q", got)
	}
	if _, err := env.FS.Stat(t.Context(), dir+"/nope", false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a missing path: %v, want ErrNotExist", err)
	}
}

func testFSSymlinks(t *testing.T, env SandboxFSEnv, dir string) {
	ctx := t.Context()
	put(t, env, dir+"/real/f", "inside")
	env.Symlink(t, dir+"/real", dir+"/abs")
	env.Symlink(t, strings.Repeat("../", 10), dir+"/up") // the sandbox's root, not beyond
	env.Symlink(t, "/../../.."+dir+"/landed", dir+"/out")
	env.Symlink(t, dir+"/loop", dir+"/loop")
	if st, err := env.FS.Stat(ctx, dir+"/abs", false); err != nil || st.Mode&fs.ModeSymlink == 0 || st.Target != dir+"/real" {
		t.Errorf("Stat of a symlink = %+v, %v; want it, leading to %s", st, err, dir+"/real")
	}
	if st, err := env.FS.Stat(ctx, dir+"/abs", true); err != nil || !st.Mode.IsDir() {
		t.Errorf("Stat through a symlink = %+v, %v; want the directory", st, err)
	}
	for _, p := range []string{dir + "/abs/f", dir + "/up" + dir + "/real/f"} {
		if got, err := get(t, env, p); got != "inside" || err != nil {
			t.Errorf("read %s = %q, %v; want the sandbox's file", p, got, err)
		}
	}
	put(t, env, dir+"/out", "through")
	if st, err := env.FS.Stat(ctx, dir+"/landed", false); err != nil || !st.Mode.IsRegular() {
		t.Errorf("a write through a dangling link landed elsewhere: %+v, %v", st, err)
	}
	if _, _, err := env.FS.Open(ctx, dir+"/loop"); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("Open of a symlink loop: %v, want ELOOP", err)
	}
}

func testFSRefusals(t *testing.T, env SandboxFSEnv, dir string) {
	env.Mkfifo(t, dir+"/fifo")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for p, mode := range map[string]fs.FileMode{dir + "/fifo": fs.ModeNamedPipe, dir: fs.ModeDir} {
			var re *core.RefusedFileError
			if r, _, err := env.FS.Open(ctx, p); !errors.As(err, &re) || re.Mode&mode == 0 {
				t.Errorf("Open %s: %v, want a refusal as %v", p, err, mode)
				if err == nil {
					r.Close()
				}
			}
			if w, err := env.FS.Create(ctx, p, env.Owner); !errors.As(err, &re) || re.Mode&mode == 0 {
				t.Errorf("Create %s: %v, want a refusal as %v", p, err, mode)
				if err == nil {
					w.Close()
				}
			}
		}
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("opening a FIFO hung")
	}
	if st, err := env.FS.Stat(t.Context(), dir+"/fifo", false); err != nil || st.Mode&fs.ModeNamedPipe == 0 {
		t.Errorf("Stat of the FIFO = %+v, %v; want it described", st, err)
	}
}

func testFSMkdirAll(t *testing.T, env SandboxFSEnv, dir string) {
	ctx := t.Context()
	for range 2 {
		if err := env.FS.MkdirAll(ctx, dir+"/x/y", env.Owner); err != nil {
			t.Fatalf("MkdirAll: %v", err)
		}
	}
	put(t, env, dir+"/file", "")
	err := env.FS.MkdirAll(ctx, dir+"/file/sub", env.Owner)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != dir+"/file" || !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("MkdirAll through a file: %v, want ENOTDIR naming %s", err, dir+"/file")
	}
}

func testFSWalk(t *testing.T, env SandboxFSEnv, dir string) {
	for _, d := range []string{"a/x/deep", "b", "skip/inner"} {
		if err := env.FS.MkdirAll(t.Context(), path.Join(dir, d), env.Owner); err != nil {
			t.Fatal(err)
		}
	}
	env.Symlink(t, dir+"/a", dir+"/link")
	walk := func(depth int, stopAt string) []string {
		var seen []string
		err := env.FS.Walk(t.Context(), dir, depth, func(rel string, st core.FileStat) error {
			seen = append(seen, rel)
			switch {
			case rel == "link" && st.Target != dir+"/a":
				t.Errorf("walked symlink leads to %q", st.Target)
			case rel == "skip":
				return fs.SkipDir
			case rel == stopAt:
				return fs.SkipAll
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Walk depth %d: %v", depth, err)
		}
		return seen
	}
	if got, want := walk(0, ""), []string{"a", "a/x", "a/x/deep", "b", "link", "skip"}; !slices.Equal(got, want) {
		t.Errorf("Walk = %q, want %q (in order, links not followed, skip not entered)", got, want)
	}
	if got, want := walk(2, ""), []string{"a", "a/x", "b", "link", "skip"}; !slices.Equal(got, want) {
		t.Errorf("Walk depth 2 = %q, want %q", got, want)
	}
	if got := walk(0, "a/x"); !slices.Equal(got, []string{"a", "a/x"}) {
		t.Errorf("Walk stopped at a/x = %q", got)
	}
	noop := func(string, core.FileStat) error { return nil }
	if err := env.FS.Walk(t.Context(), dir+"/link", 1, noop); err != nil {
		t.Errorf("Walk from a symlink to a directory: %v", err)
	}
	if err := env.FS.Walk(t.Context(), dir+"/nope", 1, noop); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Walk of a missing directory: %v, want ErrNotExist", err)
	}
}

func testFSRenameRemove(t *testing.T, env SandboxFSEnv, dir string) {
	ctx := t.Context()
	put(t, env, dir+"/src", "moved")
	if err := env.FS.Rename(ctx, dir+"/src", dir+"/new/parent/dst", env.Owner); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	if got, err := get(t, env, dir+"/new/parent/dst"); got != "moved" || err != nil {
		t.Errorf("after Rename the destination holds %q, %v", got, err)
	}
	if st, err := env.FS.Stat(ctx, dir+"/new/parent", false); err != nil || st.UID != env.Owner.UID {
		t.Errorf("the parent Rename made = %+v, %v; want it owned by %+v", st, err, env.Owner)
	}
	if err := env.FS.Rename(ctx, dir+"/src", dir+"/again", env.Owner); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rename of a missing source: %v, want ErrNotExist", err)
	}
	env.Symlink(t, dir+"/new", dir+"/link")
	if err := env.FS.RemoveAll(ctx, dir+"/link"); err != nil {
		t.Fatalf("RemoveAll of a symlink: %v", err)
	}
	if _, err := env.FS.Stat(ctx, dir+"/new/parent/dst", false); err != nil {
		t.Errorf("removing a symlink removed its target: %v", err)
	}
	for range 2 { // a missing path is success
		if err := env.FS.RemoveAll(ctx, dir+"/new"); err != nil {
			t.Errorf("RemoveAll: %v", err)
		}
	}
	if _, err := env.FS.Stat(ctx, dir+"/new", false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after RemoveAll: %v, want ErrNotExist", err)
	}
}
