package fdtree_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/snapgate/snapgate/core/engine/fdtree"
)

func copyTree(t *testing.T, src, dst string, tolerant bool) error {
	t.Helper()
	s, err := fdtree.OpenRoot(src)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := fdtree.OpenRoot(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cp := fdtree.NewCopier(d)
	cp.Tolerant = tolerant
	return cp.CopyAll(t.Context(), s, d, nil)
}

// treeHolds reports whether any regular file under root contains needle.
func treeHolds(t *testing.T, root string, needle []byte) string {
	t.Helper()
	found := ""
	_ = filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, needle) {
				found = p
			}
		}
		return nil
	})
	return found
}

// The source swaps a directory for a symlink to a "host" directory while
// it is copied, over and over: the copy may miss entries, but never holds
// the host's file.
func TestCopyNeverFollowsSwappedSymlink(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	host := filepath.Join(tmp, "host")
	sentinel := []byte("HOST-SENTINEL-fdtree")
	src := filepath.Join(tmp, "src")
	for _, d := range []string{host, filepath.Join(src, "x", "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(host, "secret.txt"), filepath.Join(host, "sub", "secret.txt")} {
		_ = os.MkdirAll(filepath.Dir(f), 0o755)
		if err := os.WriteFile(f, sentinel, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"x/secret.txt", "x/sub/secret.txt"} {
		if err := os.WriteFile(filepath.Join(src, f), []byte("decoy"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(host, filepath.Join(src, "xl")); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			for _, p := range [][2]string{{"x", "xd"}, {"xl", "x"}, {"x", "xl"}, {"xd", "x"}} {
				_ = os.Rename(filepath.Join(src, p[0]), filepath.Join(src, p[1]))
			}
		}
	}()
	defer func() { stop(); wg.Wait() }()
	for i := range 500 {
		dst := filepath.Join(tmp, "dst")
		if err := os.Mkdir(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyTree(t, src, dst, true); err != nil {
			t.Fatalf("copy %d: %v", i, err)
		}
		if p := treeHolds(t, dst, sentinel); p != "" {
			t.Fatalf("copy %d holds the host's file at %s", i, p)
		}
		if err := os.RemoveAll(dst); err != nil {
			t.Fatal(err)
		}
	}
}

// Every kind of entry an upper directory holds comes through: symlinks as
// symlinks (also dangling ones to host paths), FIFOs and device nodes made
// anew (never opened), hard links, owners, modes, xattrs, holes.
func TestCopyKeepsEveryKind(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "d"), 0o750))
	must(os.Mkdir(dst, 0o755))
	must(os.WriteFile(filepath.Join(src, "d", "f"), []byte("data"), 0o640))
	must(os.Chown(filepath.Join(src, "d", "f"), 1000, 1001))
	must(os.Link(filepath.Join(src, "d", "f"), filepath.Join(src, "hard")))
	must(os.Symlink("/etc/shadow", filepath.Join(src, "link")))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o600))
	must(unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(filepath.Join(src, "whiteout"), unix.S_IFCHR, 0))
	must(unix.Setxattr(filepath.Join(src, "d"), "trusted.overlay.opaque", []byte("y"), 0))
	sparse, err := os.Create(filepath.Join(src, "sparse"))
	must(err)
	_, err = sparse.WriteAt([]byte("end"), 1<<30)
	must(err)
	must(sparse.Close())

	must(copyTree(t, src, dst, false))

	var st, st2 unix.Stat_t
	must(unix.Lstat(filepath.Join(dst, "d", "f"), &st))
	must(unix.Lstat(filepath.Join(dst, "hard"), &st2))
	if st.Ino != st2.Ino || st.Uid != 1000 || st.Gid != 1001 || st.Mode&0o7777 != 0o640 {
		t.Errorf("d/f = %+v, hard = ino %d; want one inode, 1000:1001, 0640", st, st2.Ino)
	}
	if target, err := os.Readlink(filepath.Join(dst, "link")); err != nil || target != "/etc/shadow" {
		t.Errorf("link -> %q, %v; want the symlink itself", target, err)
	}
	must(unix.Lstat(filepath.Join(dst, "fifo"), &st))
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("fifo has mode %o", st.Mode)
	}
	must(unix.Lstat(filepath.Join(dst, "null"), &st))
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("null = mode %o rdev %d", st.Mode, st.Rdev)
	}
	must(unix.Lstat(filepath.Join(dst, "whiteout"), &st))
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout = mode %o rdev %d", st.Mode, st.Rdev)
	}
	must(unix.Lstat(filepath.Join(dst, "d"), &st))
	if st.Mode&0o7777 != 0o750 {
		t.Errorf("d has mode %o, want 0750", st.Mode&0o7777)
	}
	v := make([]byte, 8)
	if n, err := unix.Getxattr(filepath.Join(dst, "d"), "trusted.overlay.opaque", v); err != nil || string(v[:n]) != "y" {
		t.Errorf("d's opaque xattr = %q, %v", v[:n], err)
	}
	must(unix.Lstat(filepath.Join(dst, "sparse"), &st))
	if st.Size != 1<<30+3 || st.Blocks*512 > 1<<20 {
		t.Errorf("sparse: size %d, %d bytes allocated; want its holes kept", st.Size, st.Blocks*512)
	}
}

// A strict copy (the frozen sync) reports an entry that changed type
// instead of skipping it.
func TestOpenFileRefusesNonRegular(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(tmp, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := fdtree.OpenRoot(tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// O_NONBLOCK: the open of a FIFO with no writer returns at once.
	if _, _, err := d.OpenFile("fifo"); !errors.Is(err, fdtree.ErrNotRegular) {
		t.Errorf("OpenFile(fifo) = %v, want ErrNotRegular", err)
	}
	if err := os.Symlink(tmp, filepath.Join(tmp, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.OpenDir("link"); !errors.Is(err, unix.ENOTDIR) && !errors.Is(err, unix.ELOOP) {
		t.Errorf("OpenDir(symlink) = %v, want ENOTDIR or ELOOP", err)
	}
	if _, err := d.OpenPath("link/link"); err == nil {
		t.Errorf("OpenPath through a symlink succeeded")
	}
}
