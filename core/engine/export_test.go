package engine

import (
	"context"
	"net"
	"os"
)

// ForceDiffCapture makes e's captures take the diff-service path, so tests
// cover the fallback on a host where the fast path applies.
func ForceDiffCapture(e *Engine) { e.forceDiff = true }

// SetBeforeCaptureFreeze makes f run in each fast capture of e after the
// copy made while the sandbox runs and before the sandbox is frozen.
func SetBeforeCaptureFreeze(e *Engine, f func()) { e.beforeFreeze = f }

// FileHoldWaiters counts the dataplane changes (and captures) waiting for
// sandbox id's files lock.
func FileHoldWaiters(e *Engine, id string) int { return e.files.waiters(id) }

// RootDir is the host path of sandbox id's root while its task lives
// (/proc/<pid>/root), for tests to inspect it from the host.
func RootDir(ctx context.Context, e *Engine, id string) (string, error) {
	dir, _, err := e.rootDir(ctx, id)
	return dir, err
}

// SetAfterNewTask makes f run in each start of a task by e, after the task
// was created and before it is started.
func SetAfterNewTask(e *Engine, f func(id string)) { e.afterNewTask = f }

// SetAfterWarmContainer makes f run in each warm sandbox creation of e,
// after its container was made and before its task is.
func SetAfterWarmContainer(e *Engine, f func(id string)) { e.afterWarmContainer = f }

// SandboxLockWaiters counts the starts and kills waiting for sandbox id.
func SandboxLockWaiters(e *Engine, id string) int { return e.sandboxes.waiters(id) }

// ListenInNetns listens on addr in the network namespace at path (a test's
// own namespaces, made with ip netns).
func ListenInNetns(path, network, addr string) (net.Listener, error) {
	ns, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	var ln net.Listener
	var lerr error
	if err := inNetns(ns, func() { ln, lerr = net.Listen(network, addr) }); err != nil {
		return nil, err
	}
	return ln, lerr
}
