package engine

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
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

// layerWriter writes one upper directory as a tar stream.
type layerWriter struct {
	root  string
	tw    *tar.Writer
	links map[inode]string // first tar name of each multiply-linked inode
	buf   []byte           // file copy buffer
}

// writeLayer writes the upper directory root to w as an uncompressed OCI
// layer. It reads files as they are: root must not change meanwhile.
func writeLayer(root string, w io.Writer) error {
	lw := &layerWriter{
		root:  filepath.Clean(root),
		tw:    tar.NewWriter(w),
		links: map[inode]string{},
		buf:   make([]byte, 256<<10),
	}
	if err := filepath.WalkDir(lw.root, lw.visit); err != nil {
		return err
	}
	return lw.tw.Close()
}

func (lw *layerWriter) visit(path string, _ fs.DirEntry, err error) error {
	if err != nil {
		return err
	}
	if path == lw.root {
		return nil
	}
	name := filepath.ToSlash(path[len(lw.root)+1:])
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fmt.Errorf("layer: stat %s: %w", name, err)
	}
	kind := st.Mode & unix.S_IFMT
	if kind == unix.S_IFCHR && st.Rdev == 0 {
		return lw.whiteout(name, &st)
	}
	if kind == unix.S_IFSOCK {
		return nil // tar has no sockets; a socket is only meaningful live
	}
	hdr := header(name, &st)
	xattrs, opaque, err := readXattrs(path)
	if err != nil {
		return fmt.Errorf("layer: xattrs of %s: %w", name, err)
	}
	for k, v := range xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[paxXattrPrefix+k] = v
	}
	if err := lw.setType(hdr, path, name, &st); err != nil {
		return err
	}
	if err := lw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("layer: header of %s: %w", name, err)
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		if err := lw.copyFile(path, name, hdr.Size); err != nil {
			return err
		}
	}
	if opaque {
		return lw.marker(name+"/"+opaqueMarker, &st)
	}
	return nil
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
func (lw *layerWriter) setType(hdr *tar.Header, path, name string, st *unix.Stat_t) error {
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
		target, err := os.Readlink(path)
		if err != nil {
			return fmt.Errorf("layer: read link %s: %w", name, err)
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
	dir, base := filepath.Split(name)
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

func (lw *layerWriter) copyFile(path, name string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("layer: open %s: %w", name, err)
	}
	defer f.Close()
	n, err := io.CopyBuffer(lw.tw, io.LimitReader(f, size), lw.buf)
	if err == nil && n != size {
		err = fmt.Errorf("file shrank from %d to %d bytes", size, n)
	}
	if err != nil {
		return fmt.Errorf("layer: copy %s: %w", name, err)
	}
	return nil
}

// readXattrs returns path's extended attributes other than overlay's own,
// and whether overlay marked it opaque. A file system without xattr
// support has none.
func readXattrs(path string) (map[string]string, bool, error) {
	names, err := listXattrs(path)
	if err != nil {
		return nil, false, err
	}
	var out map[string]string
	opaque := false
	for _, n := range names {
		v, err := getXattr(path, n)
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, false, err
		}
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
	return out, opaque, nil
}

func listXattrs(path string) ([]string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Llistxattr(path, buf)
		switch {
		case errors.Is(err, unix.ERANGE):
			buf = make([]byte, len(buf)*4)
			continue
		case errors.Is(err, unix.ENOTSUP):
			return nil, nil
		case err != nil:
			return nil, err
		}
		var names []string
		for _, s := range strings.Split(string(buf[:n]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, nil
	}
}

func getXattr(path, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
