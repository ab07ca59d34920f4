package core

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// sandboxFS is a sandbox's root filesystem opened as an *os.Root. Paths
// are resolved the way a process in the sandbox sees them (as after
// chroot): an absolute symlink starts again at the sandbox's root, ".." at
// the root stays there. resolve only computes a path; every access still
// goes through the os.Root, which never follows a link out of it (a path
// that changes in between fails instead of escaping).
type sandboxFS struct {
	root *os.Root
	ids  IDMap // owners on the host are these ids
}

// maxSymlinks bounds the links followed in one path, like Linux's 40.
const maxSymlinks = 40

// errTooManyLinks stands for ELOOP from our own resolution.
var errTooManyLinks = &fs.PathError{Op: "resolve", Err: syscall.ELOOP}

// rel turns an absolute in-sandbox path into the name os.Root expects.
func rel(p string) string {
	if p = strings.TrimLeft(p, "/"); p == "" {
		return "."
	}
	return p
}

// resolve returns the absolute, clean, symlink-free path p designates in
// the sandbox; a final symlink is followed only when followLast. From the
// first component that does not exist (or cannot be read) on, the rest is
// returned as written, for the operation to create or to report.
func (s sandboxFS) resolve(p string, followLast bool) (string, error) {
	p = path.Clean("/" + p)
	for links := 0; ; {
		next, restart, err := s.walk(p, followLast)
		if err != nil || !restart {
			return next, err
		}
		if links++; links > maxSymlinks {
			return "", errTooManyLinks
		}
		p = next
	}
}

// walk resolves p up to its first symlink and returns, with restart set,
// the path that replaces p (the link's target with the rest appended).
func (s sandboxFS) walk(p string, followLast bool) (next string, restart bool, err error) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i, name := range parts {
		if name == "" {
			continue
		}
		candidate := path.Join(cur, name)
		if i == len(parts)-1 && !followLast {
			return candidate, false, nil
		}
		fi, err := s.root.Lstat(rel(candidate))
		if err != nil {
			return path.Join(append([]string{candidate}, parts[i+1:]...)...), false, nil
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = candidate
			continue
		}
		target, err := s.root.Readlink(rel(candidate))
		if err != nil {
			return "", false, err
		}
		if !path.IsAbs(target) {
			target = path.Join(cur, target)
		}
		return path.Clean(path.Join(append([]string{"/", target}, parts[i+1:]...)...)), true, nil
	}
	return cur, false, nil
}

// stat resolves p (following a final symlink when follow) and stats the
// result without following anything further.
func (s sandboxFS) stat(p string, follow bool) (string, os.FileInfo, error) {
	real, err := s.resolve(p, follow)
	if err != nil {
		return "", nil, err
	}
	fi, err := s.root.Lstat(rel(real))
	return real, fi, err
}

// isExecutable reports whether p is (or links to) a regular file with an
// execute bit.
func (s sandboxFS) isExecutable(p string) bool {
	_, fi, err := s.stat(p, true)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// isDir reports whether p is (or links to) a directory.
func (s sandboxFS) isDir(p string) bool {
	_, fi, err := s.stat(p, true)
	return err == nil && fi.IsDir()
}

// readSmall reads a small file (passwd, group) through links, at most
// limit bytes.
func (s sandboxFS) readSmall(p string, limit int64) ([]byte, error) {
	real, err := s.resolve(p, true)
	if err != nil {
		return nil, err
	}
	// The sandbox may have made /etc/passwd a FIFO or a device node.
	f, _, err := s.openContent(real, p, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// expandPath turns a client path into an absolute in-sandbox one as envd
// does: "~" and "~/x" under home, relative paths under home, cleaned.
// ErrInvalidArgument (empty, NUL).
func expandPath(p, home string) (string, error) {
	switch {
	case p == "":
		return "", Errorf(ErrInvalidArgument, "a path is required")
	case strings.ContainsRune(p, 0):
		return "", Errorf(ErrInvalidArgument, "path contains a NUL character")
	case p == "~":
		p = home
	case strings.HasPrefix(p, "~/"):
		p = path.Join(home, p[2:])
	case !path.IsAbs(p):
		p = path.Join(home, p)
	}
	return path.Clean("/" + p), nil
}

// fsError classifies a filesystem error about the in-sandbox path abs.
// Messages name only abs, never host paths (the cause has them).
func fsError(err error, abs string) error {
	var errno syscall.Errno
	switch {
	case err == nil:
		return nil
	case KindOf(err) != nil:
		return err
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return WithCause(ErrNotFound, err, "path '%s' does not exist", abs)
	case !errors.As(err, &errno):
	case errno == syscall.ENOSPC, errno == syscall.EDQUOT:
		return WithCause(ErrResourceExhausted, err, "not enough disk space in the sandbox for '%s'", abs)
	case errno == syscall.EISDIR:
		return WithCause(ErrInvalidArgument, err, "path '%s' is a directory", abs)
	case errno == syscall.ELOOP:
		return WithCause(ErrInvalidArgument, err, "too many levels of symbolic links in '%s'", abs)
	case errno == syscall.ENAMETOOLONG:
		return WithCause(ErrInvalidArgument, err, "path '%s' is too long", abs)
	case errno == syscall.EEXIST, errno == syscall.ENOTEMPTY:
		return WithCause(ErrAlreadyExists, err, "path '%s' already exists", abs)
	case errno == syscall.EACCES, errno == syscall.EPERM, errno == syscall.EROFS, errno == syscall.EBUSY:
		return WithCause(ErrPermissionDenied, err, "permission denied for '%s'", abs)
	case errno == syscall.EXDEV, errno == syscall.EINVAL:
		return WithCause(ErrInvalidArgument, err, "invalid operation on '%s'", abs)
	}
	return fmt.Errorf("sandbox path %s: %w", abs, err)
}
