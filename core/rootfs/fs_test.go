package rootfs_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/rootfs"
)

const shift = 100000

// shifted is a user namespace whose id 0 is host id 100000.
var shifted = rootfs.IDMap{
	ToHost:    func(id uint32) uint32 { return id + shift },
	ToSandbox: func(id uint32) uint32 { return id - shift },
}

func open(t *testing.T, ids rootfs.IDMap) (*rootfs.FS, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := rootfs.Open(dir, ids)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func hostOwner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

// What is made for a user is owned by the user's host ids, and reads back
// as the sandbox's.
func TestOwnersAreShifted(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("chown to another uid needs root")
	}
	t.Parallel()
	s, dir := open(t, shifted)
	ctx := t.Context()
	owner := core.Owner{UID: 1000, GID: 1001}
	w, err := s.Create(ctx, "/a/b/file", owner)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "x"); err != nil {
		t.Fatal(err)
	}
	st, err := w.Stat()
	w.Close()
	if err != nil || st.UID != 1000 || st.GID != 1001 || st.Size != 1 {
		t.Errorf("written file = %+v, %v; want 1 byte owned by 1000:1001", st, err)
	}
	if err := s.MkdirAll(ctx, "/c/d", owner); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a", "a/b", "a/b/file", "c", "c/d"} {
		if uid, gid := hostOwner(t, filepath.Join(dir, p)); uid != shift+1000 || gid != shift+1001 {
			t.Errorf("%s on the host: %d:%d, want %d:%d", p, uid, gid, shift+1000, shift+1001)
		}
	}
	if st, err := s.Stat(ctx, "/c", false); err != nil || st.UID != 1000 || st.GID != 1001 {
		t.Errorf("Stat /c = %+v, %v; want the sandbox's ids", st, err)
	}
}

func TestMkdirAllNamesTheComponentInTheWay(t *testing.T) {
	t.Parallel()
	s, dir := open(t, rootfs.IDMap{})
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := s.MkdirAll(t.Context(), "/file/sub", core.Owner{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())})
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != "/file" || !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("MkdirAll through a file: %v, want ENOTDIR naming /file", err)
	}
}

func TestCreateRefusesWhatIsNotARegularFile(t *testing.T) {
	t.Parallel()
	s, dir := open(t, rootfs.IDMap{})
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	me := core.Owner{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	for p, mode := range map[string]fs.FileMode{"/fifo": fs.ModeNamedPipe, "/dir": fs.ModeDir, "/": fs.ModeDir} {
		var re *core.RefusedFileError
		if _, err := s.Create(t.Context(), p, me); !errors.As(err, &re) || re.Mode != mode {
			t.Errorf("Create %s: %v, want refused as %v", p, err, mode)
		}
		if _, _, err := s.Open(t.Context(), p); !errors.As(err, &re) || re.Mode != mode {
			t.Errorf("Open %s: %v, want refused as %v", p, err, mode)
		}
	}
}

func TestWalkOrderDepthAndSkips(t *testing.T) {
	t.Parallel()
	s, dir := open(t, rootfs.IDMap{})
	for _, d := range []string{"a/x/deep", "b", "skip/inner"} {
		if err := os.MkdirAll(filepath.Join(dir, "top", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/top/a", filepath.Join(dir, "top/link")); err != nil {
		t.Fatal(err)
	}
	walk := func(depth int, stopAt string) ([]string, map[string]string) {
		var seen []string
		targets := map[string]string{}
		err := s.Walk(t.Context(), "/top", depth, func(rel string, st core.FileStat) error {
			seen = append(seen, rel)
			if st.Target != "" {
				targets[rel] = st.Target
			}
			switch rel {
			case "skip":
				return fs.SkipDir
			case stopAt:
				return fs.SkipAll
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Walk depth %d: %v", depth, err)
		}
		return seen, targets
	}
	all, targets := walk(0, "")
	if want := []string{"a", "a/x", "a/x/deep", "b", "link", "skip"}; !slices.Equal(all, want) {
		t.Errorf("Walk = %q, want %q (symlinks not followed, skip not entered)", all, want)
	}
	if targets["link"] != "/top/a" {
		t.Errorf("symlink target = %q", targets["link"])
	}
	if two, _ := walk(2, ""); !slices.Equal(two, []string{"a", "a/x", "b", "link", "skip"}) {
		t.Errorf("Walk depth 2 = %q", two)
	}
	if stopped, _ := walk(0, "a/x"); strings.Join(stopped, ",") != "a,a/x" {
		t.Errorf("Walk stopped at a/x = %q", stopped)
	}
	if err := s.Walk(t.Context(), "/top/link", 1, func(string, core.FileStat) error { return nil }); err != nil {
		t.Errorf("Walk through a symlinked directory: %v", err)
	}
}
