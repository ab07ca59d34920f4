package core

import (
	"context"
	"fmt"
)

// Observer is told when long-running work ends, so cmd can count it
// (Prometheus) without core knowing how. Methods are called on the
// worker's or request's goroutine: they must be quick and never block.
type Observer interface {
	// BuildFinished reports a snapshot build from an image whose result
	// was recorded: SnapshotReady or SnapshotFailed. A build handed back
	// at shutdown, or whose snapshot was deleted meanwhile, is not one.
	BuildFinished(status SnapshotStatus)
	// CaptureFinished reports a capture of a running sandbox:
	// SnapshotReady or SnapshotFailed (including captures found cut off
	// by a crash).
	CaptureFinished(status SnapshotStatus)
	// ImagePulled reports a successful engine pull and the unpacked size
	// of the image it made present.
	ImagePulled(unpackedBytes int64)
}

// nopObserver is the Observer of services given none.
type nopObserver struct{}

func (nopObserver) BuildFinished(SnapshotStatus)   {}
func (nopObserver) CaptureFinished(SnapshotStatus) {}
func (nopObserver) ImagePulled(int64)              {}

// CountByState returns how many live sandboxes this node holds in each
// live state, zeros included. Killed and failed rows are kept for the
// record and only grow, so they are not counted. Counting per node makes
// the sum over a cluster's nodes the cluster's total.
func (s *Sandboxes) CountByState(ctx context.Context) (map[SandboxState]int, error) {
	got, err := s.opt.Store.CountNodeSandboxes(ctx, s.opt.Node)
	if err != nil {
		return nil, fmt.Errorf("count sandboxes of node %s: %w", s.opt.Node, err)
	}
	out := make(map[SandboxState]int, 3)
	for _, st := range []SandboxState{SandboxStarting, SandboxRunning, SandboxPaused} {
		out[st] = got[st]
	}
	return out, nil
}
