package core

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"
)

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

// fsError classifies a SandboxFS error about the in-sandbox path abs.
// Messages name only abs, never host paths (the cause has them).
func fsError(err error, abs string) error {
	var (
		errno   syscall.Errno
		refused *RefusedFileError
	)
	switch {
	case err == nil:
		return nil
	case KindOf(err) != nil:
		return err
	case errors.As(err, &refused):
		return refusal(refused, abs)
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
	case errno == syscall.EAGAIN:
		return WithCause(ErrFailedPrecondition, err, "path '%s' kept changing while it was being opened", abs)
	}
	return fmt.Errorf("sandbox path %s: %w", abs, err)
}

// mkdirError classifies an error of a SandboxFS call that makes missing
// directories for abs: a component in the way (ENOTDIR naming it, as
// SandboxFS.MkdirAll says) is the client's, the rest as fsError.
func mkdirError(err error, abs string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && errors.Is(pe.Err, syscall.ENOTDIR) && path.IsAbs(pe.Path) {
		return WithCause(ErrInvalidArgument, err, "'%s' is not a directory (in '%s')", pe.Path, abs)
	}
	return fsError(err, abs)
}
