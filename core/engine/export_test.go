package engine

import "context"

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
