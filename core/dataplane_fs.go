package core

import (
	"context"
	"io"
	"io/fs"
	"time"
)

// SandboxFS is one sandbox's filesystem as the dataplane's file calls
// reach it, opened by DataplaneEngine.OpenFS. It is the engine's half of
// the file APIs: how to touch a hostile, changing tree safely. Core keeps
// the other half: which user, which path ("~", relative paths), which
// operations are allowed, and what the client is told.
//
// Paths are absolute and clean, inside the sandbox, and resolve as a
// process in the sandbox sees them (as after chroot): an absolute symlink
// target starts again at the sandbox's root, ".." stops there, and more
// than 40 links in one path is ELOOP. Nothing outside the sandbox is ever
// reached, whatever the sandbox does to its tree meanwhile (the containerd
// engine resolves relative to open directory handles, never by host path;
// an agent inside a microVM is confined by the VM). A final symlink is
// followed where a method says so.
//
// Content is only read or written in regular files of the sandbox's
// storage: Open and Create refuse anything else (directories, FIFOs,
// sockets, device nodes, files of kernel filesystems such as proc and
// sysfs) with a *RefusedFileError, without opening it for I/O.
//
// Owners are ids as the sandbox sees them; an implementation maps them to
// what it stores (the host ids of a user namespace's range).
//
// Errors: *RefusedFileError; the sandbox's absence as ErrNotFound or
// ErrFailedPrecondition; filesystem failures as errors carrying their
// errno (errors.Is with fs.ErrNotExist, syscall.ENOSPC, ...), which core
// classifies (fsError) and never shows: their text may name host paths.
// Methods that change files run under DataplaneEngine.HoldFiles. Safe for
// concurrent use.
type SandboxFS interface {
	// Stat describes p, following a final symlink when follow.
	Stat(ctx context.Context, p string, follow bool) (FileStat, error)
	// Walk calls fn for each entry below the directory dir (a final
	// symlink of dir followed; nothing below it is), depth first, names in
	// byte order within a directory, at most depth levels deep (0: no
	// limit). rel is the entry's path relative to dir. fn returns
	// fs.SkipDir to skip a directory's entries, fs.SkipAll to end the walk
	// (Walk returns nil), any other error to end it with that error.
	// Entries and directories below dir that vanish or cannot be read
	// meanwhile are skipped; ctx ending ends the walk with ctx's error.
	// dir not a directory: ENOTDIR.
	Walk(ctx context.Context, dir string, depth int, fn WalkFunc) error
	// Open opens the regular file p leads to (a final symlink followed)
	// for reading.
	Open(ctx context.Context, p string) (ReadSeekCloser, FileStat, error)
	// Create opens the regular file p leads to (a final symlink followed)
	// for writing, truncated, or makes it (mode 0644), with any missing
	// parent directories (0755); the file and what it makes are owned by
	// owner. A path that keeps changing while it is opened: EAGAIN.
	Create(ctx context.Context, p string, owner Owner) (FileWriter, error)
	// MkdirAll makes the directory p leads to (a final symlink followed)
	// and its missing parents, owned by owner; an existing directory is
	// success. A component that exists and is not a directory: ENOTDIR in
	// a *fs.PathError whose Path is that component's in-sandbox path.
	MkdirAll(ctx context.Context, p string, owner Owner) error
	// Rename moves src (a final symlink itself, not its target) to dst (a
	// final symlink replaced, not followed), making dst's missing parents
	// as MkdirAll does. An existing dst is replaced as rename(2) does.
	Rename(ctx context.Context, src, dst string, owner Owner) error
	// RemoveAll removes p and everything below it; a final symlink is
	// removed, not its target. A missing p is success.
	RemoveAll(ctx context.Context, p string) error
	// Close releases the filesystem. Files opened from it stay usable.
	Close() error
}

// WalkFunc sees one entry of SandboxFS.Walk.
type WalkFunc func(rel string, st FileStat) error

// FileStat describes one node of a sandbox's filesystem as its SandboxFS
// finds it.
type FileStat struct {
	// Mode is the node's type bits and permissions.
	Mode    fs.FileMode
	Size    int64
	ModTime time.Time
	// UID and GID are the owners as the sandbox sees them.
	UID, GID uint32
	// Ino tells the node from another one that later takes its name; 0
	// when unknown.
	Ino uint64
	// Target is where a symlink leads, as a clean absolute path in the
	// sandbox, or the link's raw text when that cannot be resolved.
	Target string
}

// Owner owns what a SandboxFS makes for a user: ids as the sandbox sees
// them.
type Owner struct{ UID, GID uint32 }

// FileWriter is a regular file a SandboxFS opened for writing.
type FileWriter interface {
	io.WriteCloser
	// Stat describes the file as written so far.
	Stat() (FileStat, error)
}

// ReadSeekCloser is an open file.
type ReadSeekCloser interface {
	io.ReadSeeker
	io.Closer
}

// RefusedFileError is a SandboxFS refusing to read or write a node that
// is not a regular file of the sandbox's storage. Core turns it into the
// client's ErrInvalidArgument naming the path and what the node is.
type RefusedFileError struct {
	// Mode is the node's type bits (a symlink: it changed while opened).
	Mode fs.FileMode
	// FS, when set, names the kernel filesystem (proc, sysfs, ...) a
	// regular-looking node belongs to.
	FS string
}

func (e *RefusedFileError) Error() string {
	if e.FS != "" {
		return "refused: a file of the " + e.FS + " filesystem"
	}
	return "refused: " + nodeKind(e.Mode)
}
