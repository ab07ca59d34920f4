package engine

import (
	"context"
	"fmt"
	"path"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapgate/snapgate/core/engine/fdtree"
)

// ctimeSlack allows for file times coming from the kernel's coarse clock,
// which lags time.Now by up to a tick (10 ms at HZ=100): a change made
// just after the pre-copy started must not look older than it.
const ctimeSlack = 20 * time.Millisecond

// syncer brings dst, a copy of the upper directory src made while the
// sandbox ran (from time since on), up to date with src, which no longer
// changes. An entry whose ctime is before since was not touched while the
// pre-copy read it, so its copy is right; the other fields are compared
// too, as a check that costs nothing once the stat is made. What differs
// is removed from dst and copied again. Both trees are walked through
// directory descriptors only (package fdtree): src belongs to the
// sandbox, and nothing in it is followed.
type syncer struct {
	src, dst *fdtree.Dir // roots
	since    time.Time
	recopy   [][]string                // paths relative to the roots; a group per linked inode
	links    map[fdtree.Inode][]string // inode of a multiply linked file: its paths
	changed  map[fdtree.Inode]bool     // inodes in links that must be re-copied
	dirs     []dirMeta                 // directories in both, for their metadata
	ids      idShift                   // src's owners are host ids of this range
}

type dirMeta struct {
	rel  string
	meta *fdtree.Meta
}

// syncUpper runs the sync; see syncer.
func syncUpper(ctx context.Context, src, dst *fdtree.Dir, since time.Time, ids idShift) error {
	s := &syncer{src: src, dst: dst, since: since.Add(-ctimeSlack), ids: ids,
		links: map[fdtree.Inode][]string{}, changed: map[fdtree.Inode]bool{}}
	if err := s.walkDir(ctx, src, dst); err != nil {
		return fmt.Errorf("sync upper directory: %w", err)
	}
	// All paths of a changed multiply linked inode are copied by one
	// copier, which links them again as in src.
	for ino, paths := range s.links {
		if s.changed[ino] {
			for _, p := range paths {
				if err := s.at(p, func(_, d *fdtree.Dir, name string) error { return fdtree.RemoveAll(d, name) }); err != nil {
					return fmt.Errorf("sync upper directory: %w", err)
				}
			}
			s.recopy = append(s.recopy, paths)
		}
	}
	for _, group := range s.recopy {
		cp := fdtree.NewCopier(dst)
		cp.Map = ids.metaToSandbox
		for _, p := range group {
			if err := s.at(p, func(sd, dd *fdtree.Dir, name string) error { return cp.Copy(ctx, sd, dd, name) }); err != nil {
				return fmt.Errorf("sync upper directory: %w", err)
			}
		}
	}
	// Last, as creating and removing entries changed the directories' times.
	for _, d := range slices.Backward(s.dirs) {
		if err := setDirMeta(dst, d); err != nil {
			return fmt.Errorf("sync upper directory: %w", err)
		}
	}
	return nil
}

func setDirMeta(root *fdtree.Dir, d dirMeta) error {
	dd, err := root.OpenPath(d.rel)
	if err != nil {
		return err
	}
	defer dd.Close()
	return dd.SetMeta(d.meta)
}

// at runs fn with the parent directories of rel in both trees, opened
// beneath their roots through no symlink, and rel's last component.
func (s *syncer) at(rel string, fn func(src, dst *fdtree.Dir, name string) error) error {
	dir, name := path.Split(rel)
	dir = path.Clean("./" + dir)
	sd, err := s.src.OpenPath(dir)
	if err != nil {
		return err
	}
	defer sd.Close()
	dd, err := s.dst.OpenPath(dir)
	if err != nil {
		return err
	}
	defer dd.Close()
	return fn(sd, dd, name)
}

// walkDir syncs the entries of a directory present in both trees.
func (s *syncer) walkDir(ctx context.Context, src, dst *fdtree.Dir) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	srcNames, err := src.Names()
	if err != nil {
		return err
	}
	dstNames, err := dst.Names()
	if err != nil {
		return err
	}
	for _, name := range dstNames {
		if _, ok := slices.BinarySearch(srcNames, name); !ok {
			if err := fdtree.RemoveAll(dst, name); err != nil {
				return err
			}
		}
	}
	for _, name := range srcNames {
		if src.Name() == "." && name == initDir {
			continue
		}
		if err := s.entry(ctx, src, dst, name); err != nil {
			return err
		}
	}
	return nil
}

// entry syncs one entry: directories in both are descended into,
// anything else that differs is queued for a copy.
func (s *syncer) entry(ctx context.Context, src, dst *fdtree.Dir, name string) error {
	st, err := src.Lstat(name)
	if err != nil {
		return err
	}
	dt, derr := dst.Lstat(name)
	missing := derr != nil
	rel := path.Join(src.Name(), name)
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if !missing && isDir && dt.Mode&unix.S_IFMT == unix.S_IFDIR {
		return s.descend(ctx, src, dst, name)
	}
	if !isDir && st.Nlink > 1 {
		// Queued (or not) with the other paths of its inode.
		ino := fdtree.Inode{Dev: st.Dev, Ino: st.Ino}
		s.links[ino] = append(s.links[ino], rel)
		if missing || s.differs(src, dst, name, &st, &dt) {
			s.changed[ino] = true
		}
		return nil
	}
	if !missing && !s.differs(src, dst, name, &st, &dt) {
		return nil
	}
	if !missing {
		if err := fdtree.RemoveAll(dst, name); err != nil {
			return err
		}
	}
	s.recopy = append(s.recopy, []string{rel})
	return nil
}

// descend walks a directory present in both trees and keeps its source
// metadata, read from the open directory, for the end of the sync.
func (s *syncer) descend(ctx context.Context, src, dst *fdtree.Dir, name string) error {
	sd, err := src.OpenDir(name)
	if err != nil {
		return err
	}
	defer sd.Close()
	dd, err := dst.OpenDir(name)
	if err != nil {
		return err
	}
	defer dd.Close()
	m, err := sd.Meta()
	if err != nil {
		return err
	}
	s.ids.metaToSandbox(m)
	s.dirs = append(s.dirs, dirMeta{rel: sd.Name(), meta: m})
	return s.walkDir(ctx, sd, dd)
}

// differs compares a non-directory (or a type change) with its copy.
func (s *syncer) differs(src, dst *fdtree.Dir, name string, st, dt *unix.Stat_t) bool {
	if !time.Unix(st.Ctim.Unix()).Before(s.since) ||
		st.Mode != dt.Mode || s.ids.toSandbox(st.Uid) != dt.Uid || s.ids.toSandbox(st.Gid) != dt.Gid ||
		st.Size != dt.Size || st.Mtim != dt.Mtim || st.Rdev != dt.Rdev {
		return true
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		a, err1 := src.Readlink(name)
		b, err2 := dst.Readlink(name)
		return err1 != nil || err2 != nil || a != b
	}
	return false
}
