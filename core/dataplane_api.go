package core

import (
	"context"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// This file declares the dataplane: what both vendors' in-sandbox APIs
// (E2B envd's process/filesystem services and /files, LangSmith's
// /execute, /upload, /download) need from core. Adapters translate; the
// rules (who may reach which sandbox, users, paths, process bookkeeping,
// output buffering for re-attach) live here.

// ProcessSpec is a command the engine runs inside a sandbox's task.
type ProcessSpec struct {
	Argv []string
	// Env (KEY=VALUE, later entries win) goes on top of the sandbox's own
	// environment, which the engine keeps underneath: the image's ENV (its
	// PATH above all; a default PATH when it has none) and the sandbox's
	// env. Core puts HOME, USER, LOGNAME, the sandbox's env, then the
	// request's.
	Env []string
	// Cwd is an absolute path inside the sandbox.
	Cwd            string
	UID, GID       uint32
	AdditionalGIDs []uint32
	// Stdin keeps a pipe open the caller writes through RunningProcess.Stdin;
	// false gives the process an empty stdin (immediate EOF).
	Stdin bool
}

// ExitStatus is how a process ended.
type ExitStatus struct {
	Code int // exit code; -1 when killed by a signal
	// Signal is the signal that killed it (0 when it exited).
	Signal syscall.Signal
	// SandboxEnded is set when the process died because its sandbox was
	// killed: the command itself did not fail, and envd's clients see the
	// sandbox gone rather than an exit status.
	SandboxEnded bool
}

// RunningProcess is a process the engine started in a sandbox.
type RunningProcess interface {
	// Stdin is the write end of the process's stdin; nil unless
	// ProcessSpec.Stdin. Closing it delivers EOF.
	Stdin() io.WriteCloser
	// Signal sends sig to the process. A process that already exited is
	// not an error.
	Signal(ctx context.Context, sig syscall.Signal) error
	// Wait blocks until the process exited and its output was delivered to
	// the writers given at start (bounded: a background child that keeps
	// the output open does not hold Wait), then releases it.
	Wait(ctx context.Context) (ExitStatus, error)
}

// DataplaneEngine is the part of the engine the dataplane runs on.
type DataplaneEngine interface {
	// StartProcess starts spec in the sandbox's running task, streaming its
	// output to stdout and stderr (which must be safe to write from another
	// goroutine). A binary that does not exist is not an error: the
	// process exits 127 (126 when not executable). ErrNotFound (sandbox),
	// ErrFailedPrecondition (paused or stopped).
	StartProcess(ctx context.Context, sandboxID string, spec ProcessSpec, stdout, stderr io.Writer) (RunningProcess, error)
	// OpenFS opens the sandbox's filesystem while its task exists (running
	// or paused). Close it after use. ErrNotFound, ErrFailedPrecondition.
	OpenFS(ctx context.Context, sandboxID string) (SandboxFS, error)
	// HoldFiles is taken around every dataplane call that changes the
	// sandbox's files (write, mkdir, move, remove): it waits while a
	// capture has the sandbox frozen, and keeps a capture from freezing it
	// until release, so nothing changes the tree being captured. Holders
	// never wait for one another, and reads take nothing. It fails only
	// when ctx ends. Call release exactly once.
	HoldFiles(ctx context.Context, sandboxID string) (release func(), err error)
	// DialPort connects to a TCP port of the running sandbox, as a client
	// inside it would on its loopback. ErrNotFound, ErrFailedPrecondition
	// (paused or stopped), ErrUnavailable (nothing listens there).
	DialPort(ctx context.Context, sandboxID string, port uint16) (net.Conn, error)
}

// StartProcessRequest asks the dataplane for a process in a sandbox.
type StartProcessRequest struct {
	// Argv is the command; E2B sends ["/bin/bash","-l","-c",cmd], LangSmith
	// [shell,"-c",command]. A shell missing from the image falls back to
	// /bin/sh (busybox in every sandbox) so images without bash still work.
	Argv []string
	Env  map[string]string
	Cwd  string // "" = the user's home directory (or / when it has none)
	User string // "" = DefaultUser
	// Stdin keeps stdin open for WriteStdin; false gives immediate EOF.
	Stdin bool
	// Tag is E2B's optional process tag; Key is an idempotency key
	// (LangSmith command_id): a second Start with the same key returns the
	// first process instead of running the command twice.
	Tag string
	Key string
	// Timeout kills the process when it runs longer; 0 = no limit. The
	// process outlives the request that started it otherwise.
	Timeout time.Duration
}

// DefaultUser is the user commands and file operations run as when a
// request names none (E2B templates' default). Sandboxes whose image has no
// such user run as root.
const DefaultUser = "user"

// ProcessInfo describes a process of a sandbox.
type ProcessInfo struct {
	PID  uint32 // per-sandbox number, stable for the process's life
	Tag  string
	Key  string
	Argv []string
	Env  map[string]string
	Cwd  string
	// Exited is set once the process ended.
	Exited   bool
	Status   ExitStatus
	TimedOut bool // killed because its Timeout passed
}

// OutputStream names a process output.
type OutputStream int

const (
	Stdout OutputStream = 1
	Stderr OutputStream = 2
)

// ProcessEvent is one item of a process's event stream: output (Data set),
// or the end (End set, always last).
type ProcessEvent struct {
	Stream OutputStream
	Data   []byte
	// Offset is the byte offset of Data's first byte within its stream.
	Offset int64
	End    *ProcessInfo
}

// FileType is the kind of a directory entry.
type FileType int

const (
	FileTypeFile FileType = iota + 1
	FileTypeDir
	FileTypeSymlink
)

// FileInfo describes a file inside a sandbox.
type FileInfo struct {
	Name          string
	Path          string // absolute, inside the sandbox
	Type          FileType
	Size          int64
	Mode          os.FileMode
	Owner, Group  string // names from the sandbox's /etc/passwd and /etc/group, else numeric
	ModTime       time.Time
	SymlinkTarget string // set for symlinks
}

// FileEventType is the kind of a watched change.
type FileEventType int

const (
	FileCreated FileEventType = iota + 1
	FileWritten
	FileRemoved
	FileRenamed
	FileChmod
)

// FileEvent is one change under a watched directory.
type FileEvent struct {
	Name  string // path relative to the watched directory
	Type  FileEventType
	Entry *FileInfo // when known and still present
}
