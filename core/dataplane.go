package core

import (
	"context"
	"io"
	"log/slog"
	"syscall"
	"time"
)

// SKELETON: signatures are fixed (adapters code against them); bodies are
// being written. Every method returns errNotYet until then.
var errNotYet = Errorf(ErrUnavailable, "the dataplane is not implemented yet")

// DataplaneOptions configures the dataplane service.
type DataplaneOptions struct {
	Store  Store
	Engine DataplaneEngine
	// Sandboxes resumes a paused sandbox a LangSmith dataplane call reaches.
	Sandboxes *Sandboxes
	Clock     Clock
	Logger    *slog.Logger
	// FinishedTTL is how long an exited process stays re-attachable
	// (output and exit status). Default 10 min.
	FinishedTTL time.Duration
	// OutputBuffer bounds the output kept per stream of a process for
	// re-attach; older bytes are dropped. Default 4 MiB.
	OutputBuffer int
}

// Dataplane runs commands and moves files inside sandboxes for both
// vendors' in-sandbox APIs.
type Dataplane struct {
	opt DataplaneOptions
}

// NewDataplane returns the service.
func NewDataplane(opt DataplaneOptions) (*Dataplane, error) {
	return &Dataplane{opt: opt}, nil
}

// Target is a sandbox a dataplane call was authorized for.
type Target struct {
	Sandbox *Sandbox
}

// OpenByToken authorizes an E2B envd call: the sandbox (any tenant) by id
// and its access token (compared in constant time). ErrNotFound (no live
// sandbox: adapters answer 502, "not running"), ErrUnauthenticated (wrong
// or missing token), ErrFailedPrecondition (paused).
func (d *Dataplane) OpenByToken(ctx context.Context, sandboxID, accessToken string) (*Target, error) {
	return nil, errNotYet
}

// OpenForPrincipal authorizes a LangSmith dataplane call: the caller's live
// sandbox by id or name. A paused sandbox is resumed first (the SDK expects
// the platform to wake a stopped box on a dataplane call). ErrNotFound.
func (d *Dataplane) OpenForPrincipal(ctx context.Context, ref string) (*Target, error) {
	return nil, errNotYet
}

// Start starts a process. ErrInvalidArgument (no command, relative or
// missing cwd), ErrUnauthenticated (unknown user), ErrFailedPrecondition.
func (d *Dataplane) Start(ctx context.Context, t *Target, req StartProcessRequest) (*Process, error) {
	return nil, errNotYet
}

// Process returns a process of the sandbox, running or recently exited,
// by pid. ErrNotFound.
func (d *Dataplane) Process(ctx context.Context, t *Target, pid uint32) (*Process, error) {
	return nil, errNotYet
}

// ProcessByKey returns the process started with idempotency key key. ErrNotFound.
func (d *Dataplane) ProcessByKey(ctx context.Context, t *Target, key string) (*Process, error) {
	return nil, errNotYet
}

// Processes lists the sandbox's running processes.
func (d *Dataplane) Processes(ctx context.Context, t *Target) ([]ProcessInfo, error) {
	return nil, errNotYet
}

// Process is a process started through the dataplane. Its output is
// buffered (bounded) so several clients and late re-attaches see it.
type Process struct{}

// Info describes the process now.
func (p *Process) Info() ProcessInfo { return ProcessInfo{} }

// Events streams the process's output from the given offsets (bytes
// before the oldest buffered one are skipped), then live output, then one
// End event; the channel is closed after End or when ctx ends.
func (p *Process) Events(ctx context.Context, stdoutOffset, stderrOffset int64) <-chan ProcessEvent {
	ch := make(chan ProcessEvent)
	close(ch)
	return ch
}

// WriteStdin writes to the process's stdin. ErrFailedPrecondition when it
// was started without stdin, its stdin is closed, or it exited.
func (p *Process) WriteStdin(ctx context.Context, b []byte) error { return errNotYet }

// CloseStdin closes its stdin (EOF). Closing twice is success.
func (p *Process) CloseStdin(ctx context.Context) error { return errNotYet }

// Signal sends sig (SIGKILL, SIGTERM, ...). An exited process is success.
func (p *Process) Signal(ctx context.Context, sig syscall.Signal) error { return errNotYet }

// Wait blocks until the process ended and returns its info.
func (p *Process) Wait(ctx context.Context) (ProcessInfo, error) { return ProcessInfo{}, errNotYet }

// Files opens the sandbox's filesystem as user ("" = DefaultUser, falling
// back to root when the image has no such user). Close it after use.
// ErrUnauthenticated (unknown user).
func (d *Dataplane) Files(ctx context.Context, t *Target, user string) (*Files, error) {
	return nil, errNotYet
}

// Files is a sandbox's filesystem seen as one user. Paths are resolved
// like envd does: absolute as given, relative under the user's home, "~"
// expanded; nothing outside the sandbox's root is ever reached (os.Root).
type Files struct{}

// Close releases the filesystem handle.
func (f *Files) Close() error { return nil }

// Home is the user's home directory.
func (f *Files) Home() string { return "" }

// Resolve turns a client path into the absolute in-sandbox path.
// ErrInvalidArgument (empty or NUL).
func (f *Files) Resolve(path string) (string, error) { return "", errNotYet }

// Stat describes path without following a final symlink. ErrNotFound.
func (f *Files) Stat(ctx context.Context, path string) (FileInfo, error) {
	return FileInfo{}, errNotYet
}

// List returns the entries below dir up to depth levels (≥1), dir itself
// excluded. ErrNotFound, ErrInvalidArgument (not a directory).
func (f *Files) List(ctx context.Context, dir string, depth int) ([]FileInfo, error) {
	return nil, errNotYet
}

// MakeDir creates dir and its parents, owned by the user. created is false
// when it already existed as a directory; an existing non-directory is
// ErrInvalidArgument.
func (f *Files) MakeDir(ctx context.Context, dir string) (info FileInfo, created bool, err error) {
	return FileInfo{}, false, errNotYet
}

// Move renames src to dst (creating dst's parents). ErrNotFound.
func (f *Files) Move(ctx context.Context, src, dst string) (FileInfo, error) {
	return FileInfo{}, errNotYet
}

// Remove deletes path recursively; a missing path is success.
func (f *Files) Remove(ctx context.Context, path string) error { return errNotYet }

// Open opens a regular file for reading (seekable, for Range requests).
// ErrNotFound, ErrInvalidArgument (a directory).
func (f *Files) Open(ctx context.Context, path string) (ReadSeekCloser, FileInfo, error) {
	return nil, FileInfo{}, errNotYet
}

// ReadSeekCloser is an open file.
type ReadSeekCloser interface {
	io.ReadSeeker
	io.Closer
}

// Write streams r into path (truncating), creating missing parents owned
// by the user, and chowns the file to the user. Never holds the content in
// memory. ErrInvalidArgument (path is a directory), ErrResourceExhausted
// (no space left).
func (f *Files) Write(ctx context.Context, path string, r io.Reader) (FileInfo, error) {
	return FileInfo{}, errNotYet
}

// Watch streams changes under dir (recursively when asked) until ctx ends.
// ErrNotFound, ErrInvalidArgument (not a directory).
func (f *Files) Watch(ctx context.Context, dir string, recursive bool) (<-chan FileEvent, error) {
	return nil, errNotYet
}
