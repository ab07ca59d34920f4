package coretest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Hostile is a node a sandbox can make that the dataplane must never open
// for I/O: Path is its absolute in-sandbox path, Kind a word the refusal's
// message must contain.
type Hostile struct {
	Path, Kind string
}

// HostileDir is where MakeHostileNodes puts its nodes (in the sandbox).
const HostileDir = "/tmp/hostile"

// MakeHostileNodes makes, under the sandbox root directory root (a host
// directory, as the fake engines use), what a process with CAP_MKNOD can
// make: a FIFO, a unix socket, /dev/null's (1:3) and /dev/zero's (1:5)
// device numbers, and a proc filesystem at /proc (the host's pid
// namespace's, so /proc/1/mem is the host init's memory and /proc/self
// the test process). Device nodes and the proc mount need root; without
// it they are left out (logged).
func MakeHostileNodes(t *testing.T, root string) []Hostile {
	t.Helper()
	dir := filepath.Join(root, HostileDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := []Hostile{{HostileDir + "/fifo", "FIFO"}, {HostileDir + "/sock", "socket"}}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o666); err != nil {
		t.Fatal(err)
	}
	makeSocket(t, filepath.Join(dir, "sock"))
	for name, minor := range map[string]uint32{"null": 3, "zero": 5} {
		err := unix.Mknod(filepath.Join(dir, name), unix.S_IFCHR|0o666, int(unix.Mkdev(1, minor)))
		if err != nil {
			t.Logf("mknod %s: %v (device nodes left out)", name, err)
			continue
		}
		out = append(out, Hostile{HostileDir + "/" + name, "character device"})
	}
	proc := filepath.Join(root, "proc")
	if err := os.MkdirAll(proc, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		t.Logf("mount proc: %v (proc files left out)", err)
		return out
	}
	t.Cleanup(func() { _ = unix.Unmount(proc, unix.MNT_DETACH) })
	return append(out, Hostile{"/proc/1/mem", "proc"}, Hostile{"/proc/self/environ", "proc"},
		Hostile{"/proc/1/environ", "proc"})
}

// makeSocket leaves a unix socket node at p (bound, then closed).
func makeSocket(t *testing.T, p string) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: p}); err != nil {
		t.Fatalf("bind %s: %v", p, err)
	}
}

// FIFOReader opens the FIFO at hostPath for reading without blocking, as
// a sandbox process waiting for data would, and reports whether any
// writer opened the FIFO since (poll's POLLHUP: a writer came and went).
// It proves the dataplane never opened a FIFO for writing, without a
// timing. Call the returned func after the requests.
func FIFOReader(t *testing.T, hostPath string) (writerCame func() bool) {
	t.Helper()
	fd, err := unix.Open(hostPath, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return func() bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, 0); err != nil {
			t.Fatal(err)
		}
		return fds[0].Revents&(unix.POLLHUP|unix.POLLIN) != 0
	}
}
