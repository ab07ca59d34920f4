package fdtree

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// Inode identifies a file across its names.
type Inode struct{ Dev, Ino uint64 }

// Copier copies entries of a source tree into a destination tree that
// only the caller writes, keeping what an overlay upper directory
// encodes: owners, modes, times, xattrs (trusted.overlay.* among them),
// whiteout char devices, FIFOs, symlinks as symlinks, hard links among
// the files one Copier copies, and holes of sparse files. Sockets are
// left out (nothing can use one outside its live process).
type Copier struct {
	dst   *Dir             // root of the destination tree, to link into
	links map[Inode]string // destination path of the first copy of each multiply linked source file
	// Tolerant skips entries that vanish or change type while they are
	// copied (a copy of a tree still being written, repaired later);
	// otherwise any change fails the copy.
	Tolerant bool
	// Map, when set, rewrites each entry's metadata before it is given to
	// the copy (a user namespace's host owners back to the ids its
	// sandbox saw). Hard links share their first copy's metadata.
	Map func(*Meta)
	buf []byte
}

// NewCopier makes a copier into the tree rooted at dst.
func NewCopier(dst *Dir) *Copier {
	return &Copier{dst: dst, links: map[Inode]string{}}
}

// CopyAll copies every entry of src into dst (directories that exist in
// their trees), except those skip (given the entry's name) is true for.
func (c *Copier) CopyAll(ctx context.Context, src, dst *Dir, skip func(name string) bool) error {
	names, err := src.Names()
	if err != nil {
		return c.tolerate(err)
	}
	for _, name := range names {
		if skip != nil && skip(name) {
			continue
		}
		if err := c.Copy(ctx, src, dst, name); err != nil {
			return err
		}
	}
	return nil
}

// Copy copies entry name of src to the same name in dst, where nothing
// of that name exists; a directory is copied with all it holds.
func (c *Copier) Copy(ctx context.Context, src, dst *Dir, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := src.Lstat(name)
	if err != nil {
		return c.tolerate(err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return c.copyDir(ctx, src, dst, name)
	case unix.S_IFREG:
		return c.copyFile(src, dst, name, &st)
	case unix.S_IFSOCK:
		return nil
	default:
		return c.copyNode(src, dst, name, &st)
	}
}

func (c *Copier) tolerate(err error) error {
	if c.Tolerant && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) ||
		errors.Is(err, unix.ELOOP) || errors.Is(err, ErrNotRegular) || errors.Is(err, unix.EEXIST) ||
		errors.Is(err, unix.EINVAL)) { // EINVAL: readlink of what is no longer a symlink
		return nil
	}
	return err
}

func (c *Copier) copyDir(ctx context.Context, src, dst *Dir, name string) error {
	sub, err := src.OpenDir(name)
	if err != nil {
		return c.tolerate(err)
	}
	defer sub.Close()
	// Metadata from the open directory, not the earlier stat: that is the
	// directory whose entries are copied.
	m, err := sub.Meta()
	if err != nil {
		return err
	}
	c.mapMeta(m)
	if err := unix.Mkdirat(dst.Fd(), name, 0o700); err != nil {
		return fmt.Errorf("make directory %s: %w", dst.child(name), err)
	}
	dsub, err := dst.OpenDir(name)
	if err != nil {
		return err
	}
	defer dsub.Close()
	if err := c.CopyAll(ctx, sub, dsub, nil); err != nil {
		return err
	}
	// Last: copying the entries changed the directory's times.
	return dsub.SetMeta(m)
}

func (c *Copier) mapMeta(m *Meta) {
	if c.Map != nil {
		c.Map(m)
	}
}

// Meta reads the directory's own metadata.
func (d *Dir) Meta() (*Meta, error) { return fdMeta(d.Fd(), d.name) }

// fdMeta reads the metadata of an open file or directory.
func fdMeta(fd int, name string) (*Meta, error) {
	m := &Meta{}
	if err := unix.Fstat(fd, &m.Stat); err != nil {
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	x, err := FdXattrs(fd, name)
	if err != nil {
		return nil, err
	}
	m.Xattrs = x
	return m, nil
}

func (c *Copier) copyFile(src, dst *Dir, name string, lst *unix.Stat_t) error {
	if lst.Nlink > 1 {
		if first, ok := c.links[Inode{lst.Dev, lst.Ino}]; ok {
			return c.link(first, dst, name)
		}
	}
	f, st, err := src.OpenFile(name)
	if err != nil {
		return c.tolerate(err)
	}
	defer f.Close()
	m, err := fdMeta(int(f.Fd()), f.Name())
	if err != nil {
		return err
	}
	c.mapMeta(m)
	fd, err := unix.Openat(dst.Fd(), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst.child(name), err)
	}
	out := os.NewFile(uintptr(fd), dst.child(name))
	defer out.Close()
	if err := c.copyData(out, f, st.Size); err != nil {
		return fmt.Errorf("copy %s: %w", src.child(name), err)
	}
	if err := setFd(fd, out.Name(), m); err != nil {
		return err
	}
	if st.Nlink > 1 {
		c.links[Inode{st.Dev, st.Ino}] = dst.child(name)
	}
	return nil
}

// link makes name in dst a hard link to first, a destination path
// (resolved beneath the destination root, through no symlink).
func (c *Copier) link(first string, dst *Dir, name string) error {
	parent, err := c.dst.OpenPath(path.Dir(first))
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := unix.Linkat(parent.Fd(), path.Base(first), dst.Fd(), name, 0); err != nil {
		return fmt.Errorf("link %s to %s: %w", dst.child(name), first, err)
	}
	return nil
}

// copyData copies the first size bytes of src to dst, leaving holes as
// holes: a sparse 1 TiB file in a sandbox must not become 1 TiB of zeros
// on the host.
func (c *Copier) copyData(dst, src *os.File, size int64) error {
	for off := int64(0); off < size; {
		data, err := unix.Seek(int(src.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			return err
		}
		if data >= size {
			break
		}
		hole, err := unix.Seek(int(src.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return err
		}
		hole = min(hole, size)
		if err := c.copyRange(dst, src, data, hole-data); err != nil {
			return err
		}
		off = hole
	}
	return dst.Truncate(size)
}

// copyRange copies n bytes at off, in the kernel where it can.
func (c *Copier) copyRange(dst, src *os.File, off, n int64) error {
	soff, doff := off, off
	for n > 0 {
		w, err := unix.CopyFileRange(int(src.Fd()), &soff, int(dst.Fd()), &doff, int(min(n, 1<<30)), 0)
		if err != nil {
			if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) ||
				errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
				return c.copyBuffered(dst, src, soff, n)
			}
			return err
		}
		if w == 0 {
			return nil // the file shrank: the sync compares sizes
		}
		n -= int64(w)
	}
	return nil
}

func (c *Copier) copyBuffered(dst, src *os.File, off, n int64) error {
	if c.buf == nil {
		c.buf = make([]byte, 1<<20)
	}
	_, err := io.CopyBuffer(io.NewOffsetWriter(dst, off), io.NewSectionReader(src, off, n), c.buf)
	return err
}

// copyNode recreates a symlink, device node (overlay's whiteouts among
// them) or FIFO; none is ever opened.
func (c *Copier) copyNode(src, dst *Dir, name string, st *unix.Stat_t) error {
	m := &Meta{Stat: *st}
	kind := st.Mode & unix.S_IFMT
	if kind != unix.S_IFLNK && st.Nlink > 1 {
		if first, ok := c.links[Inode{st.Dev, st.Ino}]; ok {
			return c.link(first, dst, name)
		}
	}
	x, err := src.Xattrs(name)
	if err != nil {
		return c.tolerate(err)
	}
	m.Xattrs = x
	c.mapMeta(m)
	if kind == unix.S_IFLNK {
		target, err := src.Readlink(name)
		if err != nil {
			return c.tolerate(err)
		}
		err = unix.Symlinkat(target, dst.Fd(), name)
		if err != nil {
			return fmt.Errorf("make symlink %s: %w", dst.child(name), err)
		}
	} else if err := unix.Mknodat(dst.Fd(), name, st.Mode, int(st.Rdev)); err != nil {
		return fmt.Errorf("make node %s: %w", dst.child(name), err)
	}
	if err := dst.setAt(name, m); err != nil {
		return err
	}
	if kind != unix.S_IFLNK && st.Nlink > 1 {
		c.links[Inode{st.Dev, st.Ino}] = dst.child(name)
	}
	return nil
}

// RemoveAll removes entry name of d and, for a directory, all it holds;
// gone already is fine. It never follows a link: a directory is reopened
// with O_NOFOLLOW and emptied through its descriptor.
func RemoveAll(d *Dir, name string) error {
	err := unix.Unlinkat(d.Fd(), name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return fmt.Errorf("remove %s: %w", d.child(name), err)
	}
	sub, err := d.OpenDir(name)
	if err != nil {
		return err
	}
	names, err := sub.Names()
	if err == nil {
		for _, n := range names {
			if err = RemoveAll(sub, n); err != nil {
				break
			}
		}
	}
	sub.Close()
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(d.Fd(), name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove directory %s: %w", d.child(name), err)
	}
	return nil
}
