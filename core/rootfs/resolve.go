package rootfs

import (
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// Paths are resolved the way a process in the sandbox sees them (as after
// chroot): an absolute symlink starts again at the sandbox's root, ".." at
// the root stays there. resolve only computes a path; every access still
// goes through the os.Root, which never follows a link out of it (a path
// that changes in between fails instead of escaping).

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
func (s *FS) resolve(p string, followLast bool) (string, error) {
	p = path.Clean("/" + p)
	for links := 0; ; {
		next, restart, err := s.walkLinks(p, followLast)
		if err != nil || !restart {
			return next, err
		}
		if links++; links > maxSymlinks {
			return "", errTooManyLinks
		}
		p = next
	}
}

// walkLinks resolves p up to its first symlink and returns, with restart
// set, the path that replaces p (the link's target with the rest appended).
func (s *FS) walkLinks(p string, followLast bool) (next string, restart bool, err error) {
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
func (s *FS) stat(p string, follow bool) (string, os.FileInfo, error) {
	real, err := s.resolve(p, follow)
	if err != nil {
		return "", nil, err
	}
	fi, err := s.root.Lstat(rel(real))
	return real, fi, err
}

// linkTarget is where the symlink at real leads in the sandbox (as an
// absolute path), or its raw text when that cannot be resolved.
func (s *FS) linkTarget(real string) string {
	if target, err := s.resolve(real, true); err == nil {
		return target
	}
	raw, _ := s.root.Readlink(rel(real))
	return raw
}
