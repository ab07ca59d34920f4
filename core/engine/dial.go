package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"

	containerd "github.com/containerd/containerd/v2/client"
	"golang.org/x/sys/unix"

	"github.com/snapgate/snapgate/core"
)

// DialPort implements core.DataplaneEngine: a TCP connection to port on
// the sandbox's loopback, made from inside its network namespace. Loopback
// rather than the sandbox's address on the node's network, because there
// both servers bound to 0.0.0.0 and servers bound to 127.0.0.1 answer
// (E2B's envd forwards localhost-only servers to its proxy too), and the
// sandbox's egress policy has no say over it.
//
// Only the socket is made in the namespace: the goroutine's thread enters
// it for socket(2) and connect(2) and goes back; the connection then lives
// on like any other. ErrNotFound, ErrFailedPrecondition (not running),
// ErrUnavailable (nothing listens on the port).
func (e *Engine) DialPort(ctx context.Context, sandboxID string, port uint16) (net.Conn, error) {
	if port == 0 {
		return nil, core.Errorf(core.ErrInvalidArgument, "port 0 is not a port")
	}
	ctx = e.withNS(ctx)
	_, task, st, err := e.sandboxTask(ctx, sandboxID)
	if err != nil {
		return nil, err
	}
	switch {
	case st == containerd.Paused || st == containerd.Pausing:
		return nil, core.Errorf(core.ErrFailedPrecondition, "sandbox %s is paused", sandboxID)
	case st != containerd.Running || task == nil || task.Pid() == 0:
		return nil, notRunning(sandboxID)
	}
	ns, err := os.Open("/proc/" + strconv.FormatUint(uint64(task.Pid()), 10) + "/ns/net")
	if err != nil {
		return nil, core.WithCause(core.ErrFailedPrecondition, err, "sandbox %s is not running", sandboxID)
	}
	defer ns.Close()
	// The pid may have been reused between Status and the open: the
	// namespace is the sandbox's only if its task still has that pid.
	if _, t2, _, err := e.sandboxTask(ctx, sandboxID); err != nil || t2 == nil || t2.Pid() != task.Pid() {
		return nil, notRunning(sandboxID)
	}
	conn, err := dialIn(ctx, ns, net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, core.WithCause(core.ErrUnavailable, err, "nothing listens on port %d in sandbox %s", port, sandboxID)
		}
		if ctx.Err() != nil {
			return nil, core.WithCause(core.ErrUnavailable, err, "connecting to port %d in sandbox %s took too long", port, sandboxID)
		}
		return nil, core.WithCause(core.ErrUnavailable, err, "cannot connect to port %d in sandbox %s", port, sandboxID)
	}
	return conn, nil
}

// dialIn dials addr with a socket made in the network namespace ns.
func dialIn(ctx context.Context, ns *os.File, addr string) (net.Conn, error) {
	var conn net.Conn
	var derr error
	if err := inNetns(ns, func() {
		var d net.Dialer
		conn, derr = d.DialContext(ctx, "tcp", addr)
	}); err != nil {
		return nil, err
	}
	return conn, derr
}

// inNetns runs fn on an OS thread in the network namespace ns, so the
// sockets fn makes belong there; they keep it after the thread goes back.
func inNetns(ns *os.File, fn func()) error {
	done := make(chan error, 1)
	go func() {
		// A thread whose namespace could not be restored must never run
		// other goroutines: it stays locked and exits with this one.
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("open own network namespace: %w", err)
			return
		}
		defer home.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		fn()
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- nil
	}()
	return <-done
}
