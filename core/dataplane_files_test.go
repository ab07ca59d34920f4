package core_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/core"
)

func (e *dpEnv) files(t *testing.T, user string) *core.Files {
	t.Helper()
	f, err := e.dp.Files(t.Context(), e.tg, user)
	if err != nil {
		t.Fatalf("Files(%q): %v", user, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readAll(t *testing.T, f *core.Files, p string) (string, error) {
	t.Helper()
	r, _, err := f.Open(t.Context(), p)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

func TestFilesResolve(t *testing.T) {
	e := newDPEnv(t)
	f := e.files(t, "")
	cases := map[string]string{
		"/a/b/../c": "/a/c", "rel/x": "/home/user/rel/x", "~": "/home/user", "~/d": "/home/user/d",
		"../../../../etc/passwd": "/etc/passwd", "/": "/",
	}
	for in, want := range cases {
		if got, err := f.Resolve(in); err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a\x00b"} {
		if _, err := f.Resolve(bad); !errors.Is(err, core.ErrInvalidArgument) {
			t.Errorf("Resolve(%q): %v, want ErrInvalidArgument", bad, err)
		}
	}
	if root := e.files(t, "root"); root.Home() != "/root" {
		t.Errorf("root's home = %q", root.Home())
	}
	if _, err := e.dp.Files(t.Context(), e.tg, "mallory"); !errors.Is(err, core.ErrUnauthenticated) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestFilesWriteReadStatList(t *testing.T) {
	e := newDPEnv(t)
	f := e.files(t, "")
	info, err := f.Write(t.Context(), "new/dir/a.txt", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != "/home/user/new/dir/a.txt" || info.Name != "a.txt" || info.Size != 5 || info.Type != core.FileTypeFile || info.Owner != "user" || info.Group != "user" {
		t.Errorf("written %+v", info)
	}
	if d, err := f.Stat(t.Context(), "~/new"); err != nil || d.Type != core.FileTypeDir || d.Owner != "user" {
		t.Errorf("created parent %+v, %v; want a dir owned by user", d, err)
	}
	if got, err := readAll(t, f, "/home/user/new/dir/a.txt"); got != "hello" || err != nil {
		t.Errorf("read back %q, %v", got, err)
	}
	if _, err := f.Write(t.Context(), "new/dir/a.txt", strings.NewReader("hi")); err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, f, "new/dir/a.txt"); got != "hi" {
		t.Errorf("overwrite left %q", got)
	}
	if _, _, err := f.Open(t.Context(), "/nope"); !errors.Is(err, core.ErrNotFound) || core.PublicMessage(err) != "path '/nope' does not exist" {
		t.Errorf("open missing: %v", err)
	}
	if _, _, err := f.Open(t.Context(), "new"); !errors.Is(err, core.ErrInvalidArgument) {
		t.Errorf("open a directory: %v", err)
	}
	if _, err := f.Write(t.Context(), "new", strings.NewReader("x")); !errors.Is(err, core.ErrInvalidArgument) {
		t.Errorf("write over a directory: %v", err)
	}
	if _, err := f.Stat(t.Context(), "/nope"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("stat missing: %v", err)
	}

	one, err := f.List(t.Context(), "~", 1)
	if err != nil || len(one) != 1 || one[0].Path != "/home/user/new" {
		t.Errorf("List depth 1 = %+v, %v", one, err)
	}
	two, _ := f.List(t.Context(), "~", 3)
	var paths []string
	for _, fi := range two {
		paths = append(paths, fi.Path)
	}
	if want := []string{"/home/user/new", "/home/user/new/dir", "/home/user/new/dir/a.txt"}; !slices.Equal(paths, want) {
		t.Errorf("List depth 3 = %q, want %q", paths, want)
	}
	if _, err := f.List(t.Context(), "new/dir/a.txt", 1); !errors.Is(err, core.ErrInvalidArgument) {
		t.Errorf("list a file: %v", err)
	}
	if _, err := f.List(t.Context(), "/nope", 1); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("list missing: %v", err)
	}
	// Root's view names root's files by name too, and the sandbox's ids.
	os.Lchown(filepath.Join(e.root(t), "tmp"), 0, 4242)
	if fi, _ := e.files(t, "root").Stat(t.Context(), "/tmp"); fi.Owner != "root" || fi.Group != "4242" {
		t.Errorf("tmp owner/group = %q/%q, want root/4242", fi.Owner, fi.Group)
	}
}

func TestFilesMakeDirMoveRemove(t *testing.T) {
	e := newDPEnv(t)
	f := e.files(t, "")
	d, created, err := f.MakeDir(t.Context(), "/data/x/y")
	if err != nil || !created || d.Path != "/data/x/y" || d.Owner != "user" {
		t.Fatalf("MakeDir = %+v %v %v", d, created, err)
	}
	if _, created, err := f.MakeDir(t.Context(), "/data/x/y"); err != nil || created {
		t.Errorf("MakeDir of an existing dir: created %v, %v", created, err)
	}
	f.Write(t.Context(), "/data/file", strings.NewReader("f"))
	if _, _, err := f.MakeDir(t.Context(), "/data/file"); !errors.Is(err, core.ErrInvalidArgument) {
		t.Errorf("MakeDir over a file: %v", err)
	}
	moved, err := f.Move(t.Context(), "/data/file", "/other/place/file2")
	if err != nil || moved.Path != "/other/place/file2" || moved.Size != 1 {
		t.Fatalf("Move = %+v, %v", moved, err)
	}
	if _, err := f.Stat(t.Context(), "/data/file"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("source after move: %v", err)
	}
	if _, err := f.Move(t.Context(), "/data/gone", "/x"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("move missing: %v", err)
	}
	if err := f.Remove(t.Context(), "/data"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(t.Context(), "/data/x"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("after Remove: %v", err)
	}
	if err := f.Remove(t.Context(), "/data"); err != nil {
		t.Errorf("Remove of a missing path: %v", err)
	}
	if err := f.Remove(t.Context(), "/"); !errors.Is(err, core.ErrInvalidArgument) {
		t.Errorf("Remove /: %v", err)
	}
}

// Symlinks resolve as inside the sandbox: never to the host's files.
func TestFilesSymlinksStayInside(t *testing.T) {
	e := newDPEnv(t)
	root := e.root(t)
	os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("sandbox"), 0o644)
	os.WriteFile(filepath.Join(root, "secret"), []byte("sandbox secret"), 0o644)
	links := map[string]string{
		"home/user/abs":    "/etc/hostname",     // the sandbox's, not the host's
		"home/user/up":     "../../../../../..", // the sandbox's root
		"home/user/upfile": "../../../../../../secret",
		"home/user/dirabs": "/etc",
		"home/user/loop":   "loop",
		"home/user/out":    "/../../../../tmp/written-through",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	f := e.files(t, "")
	reads := map[string]string{"abs": "sandbox", "up/secret": "sandbox secret", "upfile": "sandbox secret", "dirabs/hostname": "sandbox"}
	for p, want := range reads {
		if got, err := readAll(t, f, p); got != want || err != nil {
			t.Errorf("read %s = %q, %v; want %q", p, got, err, want)
		}
	}
	if _, _, err := f.Open(t.Context(), "loop"); !errors.Is(err, core.ErrInvalidArgument) {
		t.Errorf("symlink loop: %v", err)
	}
	if _, err := f.Write(t.Context(), "out", strings.NewReader("w")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "tmp/written-through")); string(b) != "w" || err != nil {
		t.Errorf("write through a symlink landed elsewhere: %q, %v", b, err)
	}
	if _, err := os.Stat("/tmp/written-through"); err == nil {
		t.Error("a write reached the host's /tmp")
	}
	if st, err := f.Stat(t.Context(), "abs"); err != nil || st.Type != core.FileTypeSymlink || st.SymlinkTarget != "/etc/hostname" {
		t.Errorf("stat of a symlink: %+v, %v", st, err)
	}
	entries, _ := f.List(t.Context(), "up", 1)
	if !slices.ContainsFunc(entries, func(fi core.FileInfo) bool { return fi.Path == "/home/user/up/secret" }) {
		t.Errorf("listing through ../.. = %+v, want the sandbox root's entries", entries)
	}
	if err := f.Remove(t.Context(), "dirabs"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/hostname")); err != nil {
		t.Errorf("removing a symlink removed its target: %v", err)
	}
}

func TestFilesWriteStreams(t *testing.T) {
	e := newDPEnv(t)
	f := e.files(t, "")
	const size = 8 << 20
	info, err := f.Write(t.Context(), "big", io.LimitReader(zeroes{}, size))
	if err != nil || info.Size != size {
		t.Fatalf("Write 8 MiB = %+v, %v", info, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := f.Write(ctx, "cancelled", io.LimitReader(zeroes{}, size)); err == nil {
		t.Error("a write with an ended context succeeded")
	}
}

type zeroes struct{}

func (zeroes) Read(b []byte) (int, error) { clear(b); return len(b), nil }

func TestFilesWatch(t *testing.T) {
	e := newDPEnv(t)
	f := e.files(t, "")
	root := e.root(t)
	home := filepath.Join(root, "home/user")
	os.WriteFile(filepath.Join(home, "old"), []byte("1"), 0o644)
	os.Mkdir(filepath.Join(home, "sub"), 0o755)
	for _, recursive := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		ch, err := f.Watch(ctx, "~", recursive)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(home, "new"), []byte("x"), 0o644)
		os.WriteFile(filepath.Join(home, "empty"), nil, 0o644)
		os.WriteFile(filepath.Join(home, "old"), []byte("22"), 0o644)
		os.WriteFile(filepath.Join(home, "sub/deep"), []byte("d"), 0o644)
		want := map[string][]core.FileEventType{
			"new":   {core.FileCreated, core.FileWritten}, // as envd: IN_CREATE, then IN_MODIFY
			"empty": {core.FileCreated},
			"old":   {core.FileWritten},
		}
		if recursive {
			want["sub/deep"] = []core.FileEventType{core.FileCreated, core.FileWritten}
		}
		got := map[string][]core.FileEventType{}
		for !cmp.Equal(got, want) {
			select {
			case ev := <-ch:
				got[ev.Name] = append(got[ev.Name], ev.Type)
			case <-ctx.Done():
				t.Fatalf("recursive=%v: events %v, want %v", recursive, got, want)
			}
		}
		cancel()
		for range ch { // closed once ctx ended
		}
		os.Remove(filepath.Join(home, "new"))
		os.Remove(filepath.Join(home, "empty"))
		os.Remove(filepath.Join(home, "sub/deep"))
	}
	ch, _ := f.Watch(t.Context(), "~", false)
	os.Rename(filepath.Join(home, "old"), filepath.Join(home, "renamed"))
	var evs []core.FileEvent
	for ev := range ch {
		if evs = append(evs, ev); len(evs) == 2 {
			break
		}
	}
	if evs[0].Name != "old" || evs[0].Type != core.FileRenamed || evs[1].Name != "renamed" || evs[1].Type != core.FileCreated || evs[1].Entry == nil {
		t.Errorf("rename gave %+v", evs)
	}
	if _, err := f.Watch(t.Context(), "~/renamed", false); !errors.Is(err, core.ErrInvalidArgument) {
		t.Errorf("watch a file: %v", err)
	}
	if _, err := f.Watch(t.Context(), "/nope", false); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("watch missing: %v", err)
	}
}
