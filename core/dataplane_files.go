package core

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
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
	s, err := d.openFS(ctx, id)
	if err != nil {
		return nil, err
	}
	accts := readAccounts(s)
	u, err := accts.user(user)
	if err != nil {
		s.root.Close()
		return nil, err
	}
	hold := func(ctx context.Context) (func(), error) { return d.opt.Engine.HoldFiles(ctx, id) }
	return &Files{fs: s, user: u, accts: accts, hold: hold}, nil
}

// Files is a sandbox's filesystem seen as one user. Paths are resolved
// like envd does: absolute as given, relative under the user's home, "~"
// expanded; symlinks resolve as inside the sandbox (an absolute target
// starts at the sandbox's root, ".." stops there), and nothing outside the
// sandbox's root is ever reached (os.Root). Operations run with the
// gateway's rights, like envd's: the user owns what is created, its
// permissions are not checked. Safe for concurrent use.
type Files struct {
	fs    sandboxFS
	user  account
	accts accounts
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

// hostUID and hostGID own what the user creates, as the host writes it.
func (f *Files) hostUID() int { return int(f.fs.ids.ToHost(f.user.UID)) }
func (f *Files) hostGID() int { return int(f.fs.ids.ToHost(f.user.GID)) }

// Close releases the filesystem handle.
func (f *Files) Close() error { return f.fs.root.Close() }

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
	real, fi, err := f.fs.stat(abs, false)
	if err != nil {
		return FileInfo{}, fsError(err, abs)
	}
	return f.info(abs, real, fi), nil
}

// info describes fi, found at real, as the entry abs.
func (f *Files) info(abs, real string, fi os.FileInfo) FileInfo {
	out := FileInfo{
		Name: path.Base(abs), Path: abs, Type: FileTypeFile,
		Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime(),
	}
	switch {
	case fi.IsDir():
		out.Type = FileTypeDir
	case fi.Mode()&fs.ModeSymlink != 0:
		out.Type = FileTypeSymlink
		out.SymlinkTarget = f.linkTarget(real)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.Owner = f.accts.userName(f.fs.ids.ToSandbox(st.Uid))
		out.Group = f.accts.groupName(f.fs.ids.ToSandbox(st.Gid))
	}
	return out
}

// linkTarget is where the symlink at real leads in the sandbox (as an
// absolute path), or its raw text when that cannot be resolved.
func (f *Files) linkTarget(real string) string {
	if target, err := f.fs.resolve(real, true); err == nil {
		return target
	}
	raw, _ := f.fs.root.Readlink(rel(real))
	return raw
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
	real, fi, err := f.fs.stat(abs, true)
	switch {
	case err == nil && fi.IsDir():
		return f.info(abs, real, fi), false, nil
	case err == nil:
		return FileInfo{}, false, Errorf(ErrInvalidArgument, "path '%s' already exists and is not a directory", abs)
	case !errors.Is(err, fs.ErrNotExist):
		return FileInfo{}, false, fsError(err, abs)
	}
	if err := f.mkdirs(real, abs); err != nil {
		return FileInfo{}, false, err
	}
	if fi, err = f.fs.root.Lstat(rel(real)); err != nil {
		return FileInfo{}, false, fsError(err, abs)
	}
	return f.info(abs, real, fi), true, nil
}

// mkdirs creates the missing directories of the resolved path real, owned
// by the user. abs names it in errors.
func (f *Files) mkdirs(real, abs string) error {
	cur := "/"
	for _, name := range splitPath(real) {
		cur = path.Join(cur, name)
		fi, err := f.fs.root.Lstat(rel(cur))
		switch {
		case err == nil && fi.IsDir():
			continue
		case err == nil:
			return Errorf(ErrInvalidArgument, "'%s' is not a directory (in '%s')", cur, abs)
		case !errors.Is(err, fs.ErrNotExist):
			return fsError(err, abs)
		}
		if err := f.fs.root.Mkdir(rel(cur), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fsError(err, abs)
		}
		if err := f.fs.root.Lchown(rel(cur), f.hostUID(), f.hostGID()); err != nil {
			return fsError(err, abs)
		}
	}
	return nil
}

func splitPath(p string) []string {
	var out []string
	for p = path.Clean("/" + p); p != "/"; p = path.Dir(p) {
		out = append([]string{path.Base(p)}, out...)
	}
	return out
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
	srcReal, _, err := f.fs.stat(srcAbs, false)
	if err != nil {
		return FileInfo{}, fsError(err, srcAbs)
	}
	dstReal, err := f.fs.resolve(dstAbs, false)
	if err != nil {
		return FileInfo{}, fsError(err, dstAbs)
	}
	if srcReal == "/" || dstReal == "/" {
		return FileInfo{}, Errorf(ErrInvalidArgument, "the root directory cannot be moved")
	}
	if err := f.mkdirs(path.Dir(dstReal), dstAbs); err != nil {
		return FileInfo{}, err
	}
	if err := f.fs.root.Rename(rel(srcReal), rel(dstReal)); err != nil {
		return FileInfo{}, fsError(err, dstAbs)
	}
	fi, err := f.fs.root.Lstat(rel(dstReal))
	if err != nil {
		return FileInfo{}, fsError(err, dstAbs)
	}
	return f.info(dstAbs, dstReal, fi), nil
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
	real, err := f.fs.resolve(abs, false)
	if err != nil {
		return fsError(err, abs)
	}
	if real == "/" {
		return Errorf(ErrInvalidArgument, "the root directory cannot be removed")
	}
	if err := f.fs.root.RemoveAll(rel(real)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fsError(err, abs)
	}
	return nil
}

// Open opens a regular file for reading (seekable, for Range requests).
// ErrNotFound ("path '<abs>' does not exist"), ErrInvalidArgument (a
// directory or not a regular file).
func (f *Files) Open(ctx context.Context, p string) (ReadSeekCloser, FileInfo, error) {
	abs, err := f.Resolve(p)
	if err != nil {
		return nil, FileInfo{}, err
	}
	real, err := f.fs.resolve(abs, true)
	if err != nil {
		return nil, FileInfo{}, fsError(err, abs)
	}
	// Checked on an O_PATH handle, then reopened: a FIFO, socket, device
	// node or /proc file is refused without ever being opened for reading.
	file, fi, err := f.fs.openContent(real, abs, os.O_RDONLY)
	if err != nil {
		return nil, FileInfo{}, fsError(err, abs)
	}
	return file, f.info(abs, real, fi), nil
}

// Write streams r into path (truncating), creating missing parents owned
// by the user, and chowns the file to the user. A final symlink is written
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
	real, err := f.fs.resolve(abs, true)
	if err != nil {
		return FileInfo{}, fsError(err, abs)
	}
	if real == "/" {
		return FileInfo{}, Errorf(ErrInvalidArgument, "path '%s' is a directory", abs)
	}
	if err := f.mkdirs(path.Dir(real), abs); err != nil {
		return FileInfo{}, err
	}
	file, err := f.fs.openForWrite(real, abs)
	if err != nil {
		return FileInfo{}, fsError(err, abs)
	}
	fi, err := f.fill(ctx, file, r, abs)
	if cerr := file.Close(); err == nil && cerr != nil {
		err = fsError(cerr, abs)
	}
	if err != nil {
		return FileInfo{}, err
	}
	return f.info(abs, real, fi), nil
}

// fill copies r into the open file and gives it to the user.
func (f *Files) fill(ctx context.Context, file *os.File, r io.Reader, abs string) (os.FileInfo, error) {
	// openForWrite checked already; a second look on the handle written
	// to costs one fstat and keeps this safe if that ever changes.
	fi, err := file.Stat()
	if err == nil {
		err = checkContent(file, fi, abs, false)
	}
	if err != nil {
		return nil, err
	}
	if err := file.Chown(f.hostUID(), f.hostGID()); err != nil {
		return nil, fsError(err, abs)
	}
	if _, err := io.Copy(file, ctxReader{ctx: ctx, r: r}); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) { // the file's side
			return nil, fsError(err, abs)
		}
		return nil, WithCause(ErrInvalidArgument, err, "reading the content for '%s' failed", abs)
	}
	return file.Stat()
}

// ctxReader stops a copy once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}
