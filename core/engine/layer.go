package engine

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapgate/snapgate/core/engine/fdtree"
)

// This file turns an overlayfs upper directory into an OCI layer tar. The
// upper directory holds what changed over the lower layers in overlay's
// own encoding; OCI layers use another:
//
//	overlay upper                          OCI layer
//	char device 0/0 "x"                    empty file ".wh.x"
//	dir with trusted.overlay.opaque=y      the dir, then ".wh..wh..opq" in it
//	trusted.overlay.* xattrs               dropped (overlay bookkeeping)
//	second path of an inode                hard link to the first
//
// Times are truncated to seconds, as containerd's own diff writer does,
// so no entry needs a PAX record only for its sub-second mtime.

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
	overlayXattrNS = "trusted.overlay."
	opaqueXattr    = "trusted.overlay.opaque"
	paxXattrPrefix = "SCHILY.xattr."
)

type inode struct{ dev, ino uint64 }

// layerWriter writes one upper directory as a tar stream. It reaches
// every entry through directory descriptors (package fdtree), like the
// copy it reads: no path under root is ever resolved by name.
type layerWriter struct {
	tw    *tar.Writer
	links map[inode]string // first tar name of each multiply-linked inode
	buf   []byte           // file copy buffer
}

// writeLayer writes the upper directory root to w as an uncompressed OCI
// layer. It reads files as they are: root must not change meanwhile.
func writeLayer(root string, w io.Writer) error {
	lw := &layerWriter{
		tw:    tar.NewWriter(w),
		links: map[inode]string{},
		buf:   make([]byte, 256<<10),
	}
	d, err := fdtree.OpenRoot(root)
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	defer d.Close()
	if err := lw.walk(d); err != nil {
		return err
	}
	return lw.tw.Close()
}

// walk writes the entries of d in name order, each directory followed by
// what it holds, as filepath.WalkDir would.
func (lw *layerWriter) walk(d *fdtree.Dir) error {
	names, err := d.Names()
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	for _, n := range names {
		if err := lw.visit(d, n); err != nil {
			return err
		}
	}
	return nil
}

func (lw *layerWriter) visit(d *fdtree.Dir, base string) error {
	name := path.Join(d.Name(), base)
	st, err := d.Lstat(base)
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	kind := st.Mode & unix.S_IFMT
	if kind == unix.S_IFCHR && st.Rdev == 0 {
		return lw.whiteout(name, &st)
	}
	if kind == unix.S_IFSOCK {
		return nil // tar has no sockets; a socket is only meaningful live
	}
	var sub *fdtree.Dir
	var file *os.File
	switch kind {
	case unix.S_IFDIR:
		if sub, err = d.OpenDir(base); err != nil {
			return fmt.Errorf("layer: %w", err)
		}
		defer sub.Close()
	case unix.S_IFREG:
		if file, st, err = d.OpenFile(base); err != nil {
			return fmt.Errorf("layer: %w", err)
		}
		defer file.Close()
	}
	hdr := header(name, &st)
	xattrs, opaque, err := lw.xattrs(d, base, sub, file)
	if err != nil {
		return fmt.Errorf("layer: xattrs of %s: %w", name, err)
	}
	for k, v := range xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[paxXattrPrefix+k] = v
	}
	if err := lw.setType(hdr, d, base, name, &st); err != nil {
		return err
	}
	if err := lw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("layer: header of %s: %w", name, err)
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		if err := lw.copyFile(file, name, hdr.Size); err != nil {
			return err
		}
	}
	if opaque {
		if err := lw.marker(name+"/"+opaqueMarker, &st); err != nil {
			return err
		}
	}
	if sub != nil {
		return lw.walk(sub)
	}
	return nil
}

// xattrs reads an entry's extended attributes from its open descriptor
// where there is one.
func (lw *layerWriter) xattrs(d *fdtree.Dir, base string, sub *fdtree.Dir, file *os.File) (map[string]string, bool, error) {
	var all map[string][]byte
	var err error
	switch {
	case sub != nil:
		all, err = fdtree.FdXattrs(sub.Fd(), sub.Name())
	case file != nil:
		all, err = fdtree.FdXattrs(int(file.Fd()), file.Name())
	default:
		all, err = d.Xattrs(base)
	}
	if err != nil {
		return nil, false, err
	}
	x, opaque := splitXattrs(all)
	return x, opaque, nil
}

// header fills what every entry shares: name, mode bits, owner, mtime.
// Owner names stay empty: ids are what matter inside an image.
func header(name string, st *unix.Stat_t) *tar.Header {
	return &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0),
		Format:  tar.FormatPAX,
	}
}

// setType completes hdr for the file type; a second path of an inode
// becomes a hard link to the first.
func (lw *layerWriter) setType(hdr *tar.Header, d *fdtree.Dir, base, name string, st *unix.Stat_t) error {
	kind := st.Mode & unix.S_IFMT
	if kind != unix.S_IFDIR && st.Nlink > 1 {
		key := inode{dev: st.Dev, ino: st.Ino}
		if first, ok := lw.links[key]; ok {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			return nil
		}
		lw.links[key] = name
	}
	switch kind {
	case unix.S_IFDIR:
		hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	case unix.S_IFLNK:
		target, err := d.Readlink(base)
		if err != nil {
			return fmt.Errorf("layer: %w", err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if kind == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return fmt.Errorf("layer: %s has unsupported file type %#o", name, kind)
	}
	return nil
}

// whiteout writes overlay's deletion mark for name as an OCI whiteout.
func (lw *layerWriter) whiteout(name string, st *unix.Stat_t) error {
	dir, base := path.Split(name)
	return lw.marker(dir+whiteoutPrefix+base, st)
}

// marker writes an empty root-owned regular file, as whiteouts are.
func (lw *layerWriter) marker(name string, st *unix.Stat_t) error {
	hdr := &tar.Header{
		Name: name, Typeflag: tar.TypeReg, Mode: 0o644,
		ModTime: time.Unix(st.Mtim.Sec, 0), Format: tar.FormatPAX,
	}
	if err := lw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("layer: header of %s: %w", name, err)
	}
	return nil
}

func (lw *layerWriter) copyFile(f *os.File, name string, size int64) error {
	n, err := io.CopyBuffer(lw.tw, io.LimitReader(f, size), lw.buf)
	if err == nil && n != size {
		err = fmt.Errorf("file shrank from %d to %d bytes", size, n)
	}
	if err != nil {
		return fmt.Errorf("layer: copy %s: %w", name, err)
	}
	return nil
}

// splitXattrs returns the extended attributes other than overlay's own,
// and whether overlay marked the entry opaque.
func splitXattrs(all map[string][]byte) (map[string]string, bool) {
	var out map[string]string
	opaque := false
	for n, v := range all {
		switch {
		case n == opaqueXattr:
			opaque = string(v) == "y"
		case strings.HasPrefix(n, overlayXattrNS):
		default:
			if out == nil {
				out = map[string]string{}
			}
			out[n] = string(v)
		}
	}
	return out, opaque
}
