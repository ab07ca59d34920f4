package rootfs_test

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
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

// The suite every SandboxFS passes, on a directory of the test's and on
// one whose owners are shifted as in a user namespace.
func TestConformance(t *testing.T) {
	t.Parallel()
	t.Run("host ids", func(t *testing.T) {
		t.Parallel()
		s, dir := open(t, rootfs.IDMap{})
		coretest.RunSandboxFSConformance(t, dirEnv(s, dir, core.Owner{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}))
	})
	t.Run("shifted ids", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("chown to another uid needs root")
		}
		t.Parallel()
		s, dir := open(t, shifted)
		coretest.RunSandboxFSConformance(t, dirEnv(s, dir, core.Owner{UID: 1000, GID: 1000}))
	})
}

// dirEnv plants symlinks and FIFOs in dir from the host.
func dirEnv(s *rootfs.FS, dir string, owner core.Owner) coretest.SandboxFSEnv {
	return coretest.SandboxFSEnv{
		FS: s, Owner: owner,
		Symlink: func(t *testing.T, target, p string) {
			if err := os.Symlink(target, filepath.Join(dir, p)); err != nil {
				t.Fatal(err)
			}
		},
		Mkfifo: func(t *testing.T, p string) {
			if err := syscall.Mkfifo(filepath.Join(dir, p), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
}
