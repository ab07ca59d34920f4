package core

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
)

// Files opens the sandbox's filesystem as user ("" = DefaultUser, falling
// back to root when the image has no such user). Close it after use.
// ErrUnauthenticated (unknown user), ErrNotFound, ErrFailedPrecondition
// (the sandbox has no running task).
func (d *Dataplane) Files(ctx context.Context, t *Target, user string) (*Files, error) {
	id, err := targetID(t)
	if err != nil {
		return nil, err
	}
	s, err := d.opt.Engine.OpenFS(ctx, id)
	if err != nil {
		return nil, err
	}
	accts := readAccounts(ctx, s)
	u, err := accts.user(user)
	if err != nil {
		s.Close()
		return nil, err
	}
	return &Files{
		fs: s, user: u, accts: accts,
		open: func(ctx context.Context) (SandboxFS, error) { return d.opt.Engine.OpenFS(ctx, id) },
		hold: func(ctx context.Context) (func(), error) { return d.opt.Engine.HoldFiles(ctx, id) },
	}, nil
}

// Files is a sandbox's filesystem seen as one user. Paths are resolved
// like envd does: absolute as given, relative under the user's home, "~"
// expanded; the SandboxFS resolves symlinks as inside the sandbox (an
// absolute target starts at the sandbox's root, ".." stops there) and
// never reaches outside it. Operations run with the gateway's rights,
// like envd's: the user owns what is created, its permissions are not
// checked. Safe for concurrent use.
type Files struct {
	fs    SandboxFS
	user  account
	accts accounts
	// open opens another handle on the sandbox's filesystem (a Watch
	// outlives f); nil on the read-only Files a Watch makes.
	open func(ctx context.Context) (SandboxFS, error)
	// hold is DataplaneEngine.HoldFiles for this sandbox; nil on the
	// read-only Files a Watch makes.
	hold func(ctx context.Context) (release func(), err error)
}

// changing waits until the sandbox's files may change (no capture has it
// frozen) and keeps it so until release: every method that changes files
// calls it first, and holds it to the end. Waiting ends with ctx, as
// ErrUnavailable, which the vendors' clients retry.
func (f *Files) changing(ctx context.Context) (release func(), err error) {
	if f.hold == nil {
		return nil, Errorf(ErrFailedPrecondition, "this view of the sandbox's files is read-only")
	}
	release, err = f.hold(ctx)
	if err != nil {
		return nil, WithCause(ErrUnavailable, err, "the sandbox is being captured: retry the change")
	}
	return release, nil
}

// owner owns what the user creates.
func (f *Files) owner() Owner { return Owner{UID: f.user.UID, GID: f.user.GID} }

// Close releases the filesystem handle.
func (f *Files) Close() error { return f.fs.Close() }

// Home is the user's home directory.
func (f *Files) Home() string {
	if f.user.Home == "" {
		return "/"
	}
	return path.Clean(f.user.Home)
}

// Resolve turns a client path into the absolute in-sandbox path.
// ErrInvalidArgument (empty or NUL).
func (f *Files) Resolve(p string) (string, error) { return expandPath(p, f.Home()) }

// Stat describes path without following a final symlink. ErrNotFound.
func (f *Files) Stat(ctx context.Context, p string) (FileInfo, error) {
	abs, err := f.Resolve(p)
	if err != nil {
		return FileInfo{}, err
	}
	st, err := f.fs.Stat(ctx, abs, false)
	if err != nil {
		return FileInfo{}, fsError(err, abs)
	}
	return f.info(abs, st), nil
}

// info describes st as the entry abs, owners named as the sandbox names
// them.
func (f *Files) info(abs string, st FileStat) FileInfo {
	out := FileInfo{
		Name: path.Base(abs), Path: abs, Type: FileTypeFile,
		Size: st.Size, Mode: st.Mode, ModTime: st.ModTime,
		Owner: f.accts.userName(st.UID), Group: f.accts.groupName(st.GID),
	}
	switch {
	case st.Mode.IsDir():
		out.Type = FileTypeDir
	case st.Mode&fs.ModeSymlink != 0:
		out.Type = FileTypeSymlink
		out.SymlinkTarget = st.Target
	}
	return out
}

// MakeDir creates dir and its parents, owned by the user. created is false
// when it already existed as a directory; an existing non-directory is
// ErrInvalidArgument.
func (f *Files) MakeDir(ctx context.Context, dir string) (info FileInfo, created bool, err error) {
	release, err := f.changing(ctx)
	if err != nil {
		return FileInfo{}, false, err
	}
	defer release()
	abs, err := f.Resolve(dir)
	if err != nil {
		return FileInfo{}, false, err
	}
	st, err := f.fs.Stat(ctx, abs, true)
	switch {
	case err == nil && st.Mode.IsDir():
		return f.info(abs, st), false, nil
	case err == nil:
		return FileInfo{}, false, Errorf(ErrInvalidArgument, "path '%s' already exists and is not a directory", abs)
	case !errors.Is(err, fs.ErrNotExist):
		return FileInfo{}, false, fsError(err, abs)
	}
	if err := f.fs.MkdirAll(ctx, abs, f.owner()); err != nil {
		return FileInfo{}, false, mkdirError(err, abs)
	}
	if st, err = f.fs.Stat(ctx, abs, true); err != nil {
		return FileInfo{}, false, fsError(err, abs)
	}
	return f.info(abs, st), true, nil
}

// Move renames src to dst (creating dst's parents). A final symlink is
// moved itself, not its target. ErrNotFound, ErrAlreadyExists (dst is a
// non-empty directory), ErrInvalidArgument.
func (f *Files) Move(ctx context.Context, src, dst string) (FileInfo, error) {
	release, err := f.changing(ctx)
	if err != nil {
		return FileInfo{}, err
	}
	defer release()
	srcAbs, err := f.Resolve(src)
	if err != nil {
		return FileInfo{}, err
	}
	dstAbs, err := f.Resolve(dst)
	if err != nil {
		return FileInfo{}, err
	}
	if _, err := f.fs.Stat(ctx, srcAbs, false); err != nil {
		return FileInfo{}, fsError(err, srcAbs)
	}
	if srcAbs == "/" || dstAbs == "/" {
		return FileInfo{}, Errorf(ErrInvalidArgument, "the root directory cannot be moved")
	}
	if err := f.fs.Rename(ctx, srcAbs, dstAbs, f.owner()); err != nil {
		return FileInfo{}, mkdirError(err, dstAbs)
	}
	st, err := f.fs.Stat(ctx, dstAbs, false)
	if err != nil {
		return FileInfo{}, fsError(err, dstAbs)
	}
	return f.info(dstAbs, st), nil
}

// Remove deletes path recursively; a missing path is success. A final
// symlink is removed, not its target. ErrInvalidArgument (the root).
func (f *Files) Remove(ctx context.Context, p string) error {
	release, err := f.changing(ctx)
	if err != nil {
		return err
	}
	defer release()
	abs, err := f.Resolve(p)
	if err != nil {
		return err
	}
	if abs == "/" {
		return Errorf(ErrInvalidArgument, "the root directory cannot be removed")
	}
	if err := f.fs.RemoveAll(ctx, abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fsError(err, abs)
	}
	return nil
}

// Open opens a regular file for reading (seekable, for Range requests).
// A FIFO, socket, device node or kernel (proc, sysfs) file is refused
// without ever being opened for reading. ErrNotFound ("path '<abs>' does
// not exist"), ErrInvalidArgument (a directory or not a regular file).
func (f *Files) Open(ctx context.Context, p string) (ReadSeekCloser, FileInfo, error) {
	abs, err := f.Resolve(p)
	if err != nil {
		return nil, FileInfo{}, err
	}
	file, st, err := f.fs.Open(ctx, abs)
	if err != nil {
		return nil, FileInfo{}, fsError(err, abs)
	}
	return file, f.info(abs, st), nil
}

// Write streams r into path (truncating), creating missing parents owned
// by the user, and gives the file to the user. A final symlink is written
// through. Never holds the content in memory. ErrInvalidArgument (path is
// a directory or not a regular file), ErrResourceExhausted (no space left).
func (f *Files) Write(ctx context.Context, p string, r io.Reader) (FileInfo, error) {
	release, err := f.changing(ctx)
	if err != nil {
		return FileInfo{}, err
	}
	defer release()
	abs, err := f.Resolve(p)
	if err != nil {
		return FileInfo{}, err
	}
	if abs == "/" {
		return FileInfo{}, Errorf(ErrInvalidArgument, "path '%s' is a directory", abs)
	}
	file, err := f.fs.Create(ctx, abs, f.owner())
	if err != nil {
		return FileInfo{}, mkdirError(err, abs)
	}
	st, err := fill(ctx, file, r, abs)
	if cerr := file.Close(); err == nil && cerr != nil {
		err = fsError(cerr, abs)
	}
	if err != nil {
		return FileInfo{}, err
	}
	return f.info(abs, st), nil
}

// fill copies r into the open file.
func fill(ctx context.Context, file FileWriter, r io.Reader, abs string) (FileStat, error) {
	cr := &ctxReader{ctx: ctx, r: r}
	if _, err := io.Copy(file, cr); err != nil {
		if cr.err != nil && errors.Is(err, cr.err) { // the content's side
			return FileStat{}, WithCause(ErrInvalidArgument, err, "reading the content for '%s' failed", abs)
		}
		return FileStat{}, fsError(err, abs)
	}
	st, err := file.Stat()
	if err != nil {
		return FileStat{}, fsError(err, abs)
	}
	return st, nil
}

// ctxReader stops a copy once ctx ends, and keeps the error that ended
// it (the client's side of the copy).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (c *ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.r.Read(b)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}
