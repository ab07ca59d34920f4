package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ctimeSlack allows for file times coming from the kernel's coarse clock,
// which lags time.Now by up to a tick (10 ms at HZ=100): a change made
// just after the pre-copy started must not look older than it.
const ctimeSlack = 20 * time.Millisecond

// syncer brings dst, a copy of the upper directory src made while the
// sandbox ran (from time since on), up to date with src, which no longer
// changes. An entry whose ctime is before since was not touched while the
// pre-copy read it, so its copy is right; the other fields are compared
// too, as a check that costs nothing once the lstat is made. What differs
// is removed from dst and copied again with cp -a, like the pre-copy.
type syncer struct {
	src, dst string
	since    time.Time
	recopy   [][]string             // paths relative to src, for cp --parents; a group per linked inode
	links    map[uint64][]string    // inode of a multiply linked file: its paths
	changed  map[uint64]bool        // inodes in links that must be re-copied
	dirs     []string               // directories in both, for their metadata
	srcStat  map[string]unix.Stat_t // of dirs, to set their metadata from
}

// syncUpper runs the sync; see syncer.
func syncUpper(ctx context.Context, src, dst string, since time.Time) error {
	s := &syncer{src: src, dst: dst, since: since.Add(-ctimeSlack),
		links: map[uint64][]string{}, changed: map[uint64]bool{}, srcStat: map[string]unix.Stat_t{}}
	if err := s.walkDir(""); err != nil {
		return fmt.Errorf("sync upper directory: %w", err)
	}
	// All paths of a changed multiply linked inode are copied in one cp,
	// which links them again as in src (cp -a keeps links within a run).
	for ino, paths := range s.links {
		if s.changed[ino] {
			for _, p := range paths {
				if err := removeAll(filepath.Join(dst, p)); err != nil {
					return err
				}
			}
			s.recopy = append(s.recopy, paths)
		}
	}
	if err := copyParents(ctx, src, dst, s.recopy); err != nil {
		return err
	}
	// Last, as creating and removing entries changed the directories' times.
	for _, d := range slices.Backward(s.dirs) {
		if err := s.syncDirMeta(d); err != nil {
			return fmt.Errorf("sync upper directory: %w", err)
		}
	}
	return nil
}

// walkDir syncs the entries of directory rel (present in both trees).
func (s *syncer) walkDir(rel string) error {
	srcNames, err := readNames(filepath.Join(s.src, rel))
	if err != nil {
		return err
	}
	dstNames, err := readNames(filepath.Join(s.dst, rel))
	if err != nil {
		return err
	}
	for name := range dstNames {
		if _, ok := srcNames[name]; !ok {
			if err := removeAll(filepath.Join(s.dst, rel, name)); err != nil {
				return err
			}
		}
	}
	for name := range srcNames {
		if rel == "" && name == initDir {
			continue
		}
		if err := s.entry(filepath.Join(rel, name)); err != nil {
			return err
		}
	}
	return nil
}

// entry syncs one path of src: directories in both are descended into,
// anything else that differs is queued for cp.
func (s *syncer) entry(rel string) error {
	var st, dt unix.Stat_t
	if err := unix.Lstat(filepath.Join(s.src, rel), &st); err != nil {
		return err
	}
	derr := unix.Lstat(filepath.Join(s.dst, rel), &dt)
	if derr != nil && !errors.Is(derr, unix.ENOENT) {
		return derr
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if derr == nil && isDir && dt.Mode&unix.S_IFMT == unix.S_IFDIR {
		s.dirs = append(s.dirs, rel)
		s.srcStat[rel] = st
		return s.walkDir(rel)
	}
	if !isDir && st.Nlink > 1 {
		// Queued (or not) with the other paths of its inode.
		s.links[st.Ino] = append(s.links[st.Ino], rel)
		if derr != nil || s.differs(rel, &st, &dt) {
			s.changed[st.Ino] = true
		}
		return nil
	}
	if derr == nil && !s.differs(rel, &st, &dt) {
		return nil
	}
	if derr == nil {
		if err := removeAll(filepath.Join(s.dst, rel)); err != nil {
			return err
		}
	}
	s.recopy = append(s.recopy, []string{rel})
	return nil
}

// differs compares a non-directory (or a type change) with its copy.
func (s *syncer) differs(rel string, st, dt *unix.Stat_t) bool {
	if !time.Unix(st.Ctim.Unix()).Before(s.since) ||
		st.Mode != dt.Mode || st.Uid != dt.Uid || st.Gid != dt.Gid ||
		st.Size != dt.Size || st.Mtim != dt.Mtim || st.Rdev != dt.Rdev {
		return true
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		a, err1 := os.Readlink(filepath.Join(s.src, rel))
		b, err2 := os.Readlink(filepath.Join(s.dst, rel))
		return err1 != nil || err2 != nil || a != b
	}
	return false
}

// syncDirMeta gives a copied directory its source's owner, mode, xattrs
// (trusted.overlay.opaque among them) and times, when they differ.
func (s *syncer) syncDirMeta(rel string) error {
	st := s.srcStat[rel]
	src, dst := filepath.Join(s.src, rel), filepath.Join(s.dst, rel)
	var dt unix.Stat_t
	if err := unix.Lstat(dst, &dt); err != nil {
		return err
	}
	if st.Uid != dt.Uid || st.Gid != dt.Gid {
		if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	if st.Mode != dt.Mode {
		if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
			return err
		}
	}
	if err := syncXattrs(src, dst); err != nil {
		return err
	}
	if st.Mtim != dt.Mtim || st.Atim != dt.Atim {
		ts := []unix.Timespec{st.Atim, st.Mtim}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return nil
}

// syncXattrs makes dst's extended attributes those of src.
func syncXattrs(src, dst string) error {
	want, err := xattrs(src)
	if err != nil {
		return err
	}
	have, err := xattrs(dst)
	if err != nil {
		return err
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			if err := unix.Lremovexattr(dst, k); err != nil {
				return fmt.Errorf("remove xattr %s of %s: %w", k, dst, err)
			}
		}
	}
	for k, v := range want {
		if hv, ok := have[k]; !ok || !bytes.Equal(hv, v) {
			if err := unix.Lsetxattr(dst, k, v, 0); err != nil {
				return fmt.Errorf("set xattr %s of %s: %w", k, dst, err)
			}
		}
	}
	return nil
}

// xattrs reads all extended attributes of path (not following links).
func xattrs(path string) (map[string][]byte, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(path, buf)
	for errors.Is(err, unix.ERANGE) {
		buf = make([]byte, 2*len(buf))
		n, err = unix.Llistxattr(path, buf)
	}
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", path, err)
	}
	out := map[string][]byte{}
	for _, k := range strings.Split(string(buf[:n]), "\x00") {
		if k == "" {
			continue
		}
		v := make([]byte, 256)
		m, err := unix.Lgetxattr(path, k, v)
		for errors.Is(err, unix.ERANGE) {
			v = make([]byte, 2*len(v))
			m, err = unix.Lgetxattr(path, k, v)
		}
		if err != nil {
			return nil, fmt.Errorf("read xattr %s of %s: %w", k, path, err)
		}
		out[k] = v[:m]
	}
	return out, nil
}

// readNames lists a directory's entry names.
func readNames(dir string) (map[string]struct{}, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]struct{}, len(entries))
	for _, en := range entries {
		out[en.Name()] = struct{}{}
	}
	return out, nil
}

// removeAll removes path from the copy; gone already is fine.
func removeAll(path string) error {
	if err := os.RemoveAll(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale copy: %w", err)
	}
	return nil
}

// maxArgBytes keeps one cp's arguments well under the kernel's ARG_MAX.
const maxArgBytes = 256 << 10

// copyParents copies groups of paths (relative to src) to the same paths
// under dst with cp -a --parents, whose parent directories exist in dst.
// A group (the names of one multiply linked inode) is never split between
// two cp runs, as cp keeps hard links only among the files of one run.
func copyParents(ctx context.Context, src, dst string, groups [][]string) error {
	for len(groups) > 0 {
		args := []string{"-a", "--parents", "--reflink=auto", "-t", dst, "--"}
		size := 0
		for len(groups) > 0 && (size == 0 || size+groupBytes(groups[0]) < maxArgBytes) {
			size += groupBytes(groups[0])
			args = append(args, groups[0]...)
			groups = groups[1:]
		}
		cmd := exec.CommandContext(ctx, "cp", args...)
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("copy changed files: %w: %s", err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// groupBytes is what paths add to a command line.
func groupBytes(paths []string) int {
	n := 0
	for _, p := range paths {
		n += len(p) + 1
	}
	return n
}
