package core

import (
	"io/fs"
)

// What the dataplane reads or writes for a client is a regular file of the
// sandbox's own storage. A sandbox can make FIFOs (an open or read
// blocks), sockets and device nodes (from its image's layers, or with
// CAP_MKNOD: opened from the host, a 1:1 node is the host's real
// /dev/mem), and it has its own proc and sysfs mounts (/proc/1/mem). The
// SandboxFS checks each node on an open handle before any I/O and refuses
// with a *RefusedFileError (how is the engine's: see core/rootfs);
// core says what the node is, and keeps such nodes out of searches by
// their type, so a refusal is never what a search leads to.

// refusal is the client's error for a node the SandboxFS refused: the
// path and what it is.
func refusal(r *RefusedFileError, abs string) error {
	if r.FS != "" {
		return WithCause(ErrInvalidArgument, r, "path '%s' is on the sandbox's %s filesystem: its files cannot be read or written through the API", abs, r.FS)
	}
	return WithCause(ErrInvalidArgument, r, "path '%s' is %s: only regular files can be read or written", abs, nodeKind(r.Mode))
}

// nodeKind names what a non-regular node is.
func nodeKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link that changed while it was opened"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a unix socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "not a regular file"
}

// isSpecial reports a FIFO, socket or device node: listed as metadata,
// never opened.
func isSpecial(m fs.FileMode) bool {
	return m&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeDevice|fs.ModeCharDevice|fs.ModeIrregular) != 0
}
