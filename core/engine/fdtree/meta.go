package fdtree

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Xattrs reads the extended attributes of entry name (not following it).
// A file system without xattr support has none.
func (d *Dir) Xattrs(name string) (map[string][]byte, error) {
	p := d.procPath(name)
	return readXattrs(d.child(name),
		func(b []byte) (int, error) { return unix.Llistxattr(p, b) },
		func(k string, b []byte) (int, error) { return unix.Lgetxattr(p, k, b) })
}

// FdXattrs reads the extended attributes of an open file or directory.
func FdXattrs(fd int, name string) (map[string][]byte, error) {
	return readXattrs(name,
		func(b []byte) (int, error) { return unix.Flistxattr(fd, b) },
		func(k string, b []byte) (int, error) { return unix.Fgetxattr(fd, k, b) })
}

func readXattrs(name string, list func([]byte) (int, error), get func(string, []byte) (int, error)) (map[string][]byte, error) {
	buf := make([]byte, 256)
	n, err := list(buf)
	for errors.Is(err, unix.ERANGE) {
		buf = make([]byte, 4*len(buf))
		n, err = list(buf)
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", name, err)
	}
	var out map[string][]byte
	for _, k := range strings.Split(string(buf[:n]), "\x00") {
		if k == "" {
			continue
		}
		v := make([]byte, 256)
		m, err := get(k, v)
		for errors.Is(err, unix.ERANGE) {
			v = make([]byte, 4*len(v))
			m, err = get(k, v)
		}
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read xattr %s of %s: %w", k, name, err)
		}
		if out == nil {
			out = map[string][]byte{}
		}
		out[k] = v[:m]
	}
	return out, nil
}

// Meta is what a copy carries over besides content: owner, mode, times
// and extended attributes.
type Meta struct {
	Stat   unix.Stat_t
	Xattrs map[string][]byte
}

// setFd gives an open file or directory (of the destination tree) m's
// metadata. chown comes before chmod, which it would clear setuid bits
// for; times come last, as the other changes touch ctime only.
func setFd(fd int, name string, m *Meta) error {
	if err := unix.Fchown(fd, int(m.Stat.Uid), int(m.Stat.Gid)); err != nil {
		return fmt.Errorf("chown %s: %w", name, err)
	}
	if err := unix.Fchmod(fd, m.Stat.Mode&0o7777); err != nil {
		return fmt.Errorf("chmod %s: %w", name, err)
	}
	if err := syncFdXattrs(fd, name, m.Xattrs); err != nil {
		return err
	}
	return futimens(fd, name, m.Stat.Atim, m.Stat.Mtim)
}

// syncFdXattrs makes an open file's xattrs exactly want.
func syncFdXattrs(fd int, name string, want map[string][]byte) error {
	have, err := FdXattrs(fd, name)
	if err != nil {
		return err
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			if err := unix.Fremovexattr(fd, k); err != nil {
				return fmt.Errorf("remove xattr %s of %s: %w", k, name, err)
			}
		}
	}
	for k, v := range want {
		if hv, ok := have[k]; !ok || string(hv) != string(v) {
			if err := unix.Fsetxattr(fd, k, v, 0); err != nil {
				return fmt.Errorf("set xattr %s of %s: %w", k, name, err)
			}
		}
	}
	return nil
}

// setAt gives a just-made symlink, device node or FIFO of the destination
// tree m's metadata without opening it.
func (d *Dir) setAt(name string, m *Meta) error {
	if err := unix.Fchownat(d.Fd(), name, int(m.Stat.Uid), int(m.Stat.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %s: %w", d.child(name), err)
	}
	if m.Stat.Mode&unix.S_IFMT != unix.S_IFLNK {
		// The node was made by us a moment ago in a tree only we write:
		// fchmodat (which follows) reaches that node itself.
		if err := unix.Fchmodat(d.Fd(), name, m.Stat.Mode&0o7777, 0); err != nil {
			return fmt.Errorf("chmod %s: %w", d.child(name), err)
		}
	}
	p := d.procPath(name)
	for k, v := range m.Xattrs {
		if err := unix.Lsetxattr(p, k, v, 0); err != nil {
			return fmt.Errorf("set xattr %s of %s: %w", k, d.child(name), err)
		}
	}
	ts := []unix.Timespec{m.Stat.Atim, m.Stat.Mtim}
	if err := unix.UtimesNanoAt(d.Fd(), name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", d.child(name), err)
	}
	return nil
}

// SetMeta gives the directory d itself m's metadata.
func (d *Dir) SetMeta(m *Meta) error { return setFd(d.Fd(), d.name, m) }

// futimens sets an open file's times (utimensat with a NULL path, which
// x/sys does not expose).
func futimens(fd int, name string, atime, mtime unix.Timespec) error {
	ts := [2]unix.Timespec{atime, mtime}
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("set times of %s: %w", name, errno)
	}
	return nil
}
