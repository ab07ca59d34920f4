package testregistry

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BusyboxPath is where the host's static busybox is read from.
const BusyboxPath = "/bin/busybox"

// Applets get a /bin symlink to busybox in BusyboxImage.
var Applets = []string{
	"sh", "ls", "cat", "echo", "sleep", "true", "false", "mkdir", "rm", "mv",
	"cp", "env", "pwd", "id", "sha256sum", "head", "tail", "dd", "wc", "touch",
	"find", "stat", "test", "[", "kill", "ps", "sync", "printf", "grep", "sed",
	"tr", "seq", "basename", "dirname", "chmod", "chown", "ln", "tar", "uname",
	"whoami", "hostname", "sort", "uniq", "cut", "awk", "xargs", "date", "du",
	"df", "readlink", "mktemp", "tee", "gzip", "which", "timeout", "rmdir",
}

// Fixed mtime so that the same options always give the same digests.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type imageConfig struct {
	extraFiles int
	files      map[string][]byte
	entries    []entry // WithEntry, in order, after the files
	arch       string
}

// ImageOption configures BusyboxImage.
type ImageOption func(*imageConfig)

// WithExtraFiles adds n small distinct files under /data/files/dNN/ (1000
// per directory), e.g. 20000 for the many-files benchmark image.
func WithExtraFiles(n int) ImageOption {
	return func(c *imageConfig) { c.extraFiles = n }
}

// WithFile adds a regular file (mode 0644, root-owned) at the absolute path
// p; parent directories are created. Use it to make images that differ.
func WithFile(p string, content []byte) ImageOption {
	return func(c *imageConfig) { c.files[path.Clean("/"+p)] = content }
}

// WithEntry adds a tar entry as given (owner, mode with setuid bits, PAX
// xattrs "SCHILY.xattr.<name>"); body is a regular file's content. Its
// name is relative to the root; parent directories are created.
func WithEntry(h tar.Header, body []byte) ImageOption {
	return func(c *imageConfig) {
		h.Name = strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		c.entries = append(c.entries, entry{hdr: h, body: body})
	}
}

// WithArchitecture sets the config's architecture (default runtime.GOARCH).
// The layer still holds the host's busybox.
func WithArchitecture(arch string) ImageOption {
	return func(c *imageConfig) { c.arch = arch }
}

// BusyboxImage builds a single-layer OCI image holding the host's static
// busybox with applet symlinks, a /bin/bash wrapper, /tmp, /root,
// /home/user and passwd/group entries for root and user (1000). Its config
// says linux/<GOARCH>, PATH, and Cmd ["/bin/sh"]. Same options, same digest.
func BusyboxImage(opts ...ImageOption) (v1.Image, error) {
	cfg := imageConfig{files: map[string][]byte{}, arch: runtime.GOARCH}
	for _, o := range opts {
		o(&cfg)
	}
	bb, err := readBusybox()
	if err != nil {
		return nil, err
	}
	layerTar, err := buildLayer(bb, cfg)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("testregistry: layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	base, err = mutate.ConfigFile(base, &v1.ConfigFile{
		OS:           "linux",
		Architecture: cfg.arch,
		Created:      v1.Time{Time: epoch},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cmd: []string{"/bin/sh"},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("testregistry: config: %w", err)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{CreatedBy: "testregistry busybox", Created: v1.Time{Time: epoch}},
	})
	if err != nil {
		return nil, fmt.Errorf("testregistry: append layer: %w", err)
	}
	return img, nil
}

// readBusybox returns the host busybox, refusing a dynamically linked one:
// it would not run inside an image that has no libc.
func readBusybox() ([]byte, error) {
	const hint = "install it with `apt-get install busybox-static`"
	b, err := os.ReadFile(BusyboxPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("testregistry: %s is missing: %s", BusyboxPath, hint)
	}
	if err != nil {
		return nil, fmt.Errorf("testregistry: read %s: %w", BusyboxPath, err)
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("testregistry: %s is not an ELF binary (%v): %s", BusyboxPath, err, hint)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("testregistry: %s is dynamically linked: %s", BusyboxPath, hint)
		}
	}
	return b, nil
}

type entry struct {
	hdr  tar.Header
	body []byte
}

func buildLayer(busybox []byte, cfg imageConfig) ([]byte, error) {
	es := baseEntries(busybox)
	es = append(es, extraEntries(cfg)...)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, e := range es {
		// Parents first, so any file (WithFile) may sit at any depth.
		if err := writeParents(tw, dirs, e.hdr.Name); err != nil {
			return nil, err
		}
		h := e.hdr
		h.ModTime, h.Format = epoch, tar.FormatPAX
		if h.Typeflag == tar.TypeDir {
			if dirs[h.Name] {
				continue
			}
			dirs[h.Name] = true
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("testregistry: tar %s: %w", h.Name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("testregistry: tar %s: %w", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("testregistry: tar: %w", err)
	}
	return buf.Bytes(), nil
}

func writeParents(tw *tar.Writer, dirs map[string]bool, name string) error {
	parent := path.Dir(path.Clean(name))
	if parent == "." || parent == "/" || dirs[parent+"/"] {
		return nil
	}
	if err := writeParents(tw, dirs, parent); err != nil {
		return err
	}
	dirs[parent+"/"] = true
	return tw.WriteHeader(&tar.Header{
		Name: parent + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX,
	})
}

func dir(name string, mode int64, uid int) entry {
	return entry{hdr: tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: mode, Uid: uid, Gid: uid}}
}

func file(name string, mode int64, body []byte) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode}, body: body}
}

func symlink(name, target string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}

func baseEntries(busybox []byte) []entry {
	es := []entry{
		dir("bin", 0o755, 0), dir("etc", 0o755, 0), dir("tmp", 0o1777, 0),
		dir("root", 0o700, 0), dir("home", 0o755, 0), dir("home/user", 0o755, 1000),
		dir("usr", 0o755, 0), dir("usr/bin", 0o755, 0), dir("var", 0o755, 0),
		dir("proc", 0o555, 0), dir("sys", 0o555, 0), dir("dev", 0o755, 0),
		file("bin/busybox", 0o755, busybox),
		// busybox picks the applet by argv[0], so a bash symlink fails.
		file("bin/bash", 0o755, []byte("#!/bin/sh\nexec /bin/sh \"$@\"\n")),
		file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n")),
		file("etc/group", 0o644, []byte("root:x:0:\nuser:x:1000:\n")),
		file("etc/hostname", 0o644, []byte("sandbox\n")),
	}
	for _, a := range Applets {
		es = append(es, symlink("bin/"+a, "busybox"))
	}
	return es
}

func extraEntries(cfg imageConfig) []entry {
	var es []entry
	for i := range cfg.extraFiles {
		name := fmt.Sprintf("data/files/d%02d/f%05d.txt", i/1000, i)
		es = append(es, file(name, 0o644, fmt.Appendf(nil, "file %d\n", i)))
	}
	paths := make([]string, 0, len(cfg.files))
	for p := range cfg.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		es = append(es, file(p[1:], 0o644, cfg.files[p]))
	}
	return append(es, cfg.entries...)
}
