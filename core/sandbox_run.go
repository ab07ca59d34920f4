package core

import (
	"context"
	"time"
)

// Run enforces timeouts and keeps records and containers in agreement
// until ctx ends: at start and every reconcile interval, a live sandbox whose
// task is not running is marked failed (never reported running without a
// task), and a sandbox container no live record points to is removed.
func (s *Sandboxes) Run(ctx context.Context) {
	s.Reconcile(ctx)
	reap := time.NewTicker(time.Second)
	defer reap.Stop()
	recon := time.NewTicker(30 * time.Second)
	defer recon.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-reap.C:
			s.reapExpired(ctx)
		case <-recon.C:
			s.Reconcile(ctx)
		}
	}
}

func (s *Sandboxes) reapExpired(ctx context.Context) {
	expired, err := s.opt.Store.ListExpiredSandboxes(ctx, s.opt.Node, s.opt.Clock.Now())
	if err != nil {
		s.opt.Logger.WarnContext(ctx, "list expired sandboxes", "err", err)
		return
	}
	for _, sb := range expired {
		var err error
		if sb.OnTimeout == TimeoutPause && sb.State == SandboxRunning {
			err = s.pause(ctx, sb)
		} else {
			err = s.kill(ctx, sb, "timeout reached")
		}
		if err != nil {
			s.opt.Logger.WarnContext(ctx, "timeout action", "sandbox_id", sb.ID, "action", sb.OnTimeout, "err", err)
		}
	}
}

// Reconcile compares this node's live sandboxes with the engine.
func (s *Sandboxes) Reconcile(ctx context.Context) {
	live, err := s.opt.Store.ListNodeSandboxes(ctx, s.opt.Node)
	if err != nil {
		s.opt.Logger.WarnContext(ctx, "list node sandboxes", "err", err)
		return
	}
	// Containers are listed after rows: a row is written before its
	// container, so a container without a row here is an orphan.
	containers, err := s.opt.Engine.ListSandboxContainers(ctx)
	if err != nil {
		s.opt.Logger.WarnContext(ctx, "list sandbox containers", "err", err)
		return
	}
	known := make(map[string]bool, len(live))
	for _, sb := range live {
		known[sb.ID] = true
		if sb.State == SandboxStarting {
			continue // its creator is still working on it
		}
		s.checkRuntime(ctx, sb)
	}
	for _, id := range containers {
		if !known[id] {
			s.opt.Logger.InfoContext(ctx, "removing orphan sandbox container", "sandbox_id", id)
			if err := s.opt.Engine.KillSandbox(ctx, id); err != nil {
				s.opt.Logger.WarnContext(ctx, "remove orphan sandbox", "sandbox_id", id, "err", err)
			}
		}
	}
}

func (s *Sandboxes) checkRuntime(ctx context.Context, sb *Sandbox) {
	rt, err := s.opt.Engine.SandboxState(ctx, sb.ID)
	if err != nil {
		s.opt.Logger.WarnContext(ctx, "sandbox runtime state", "sandbox_id", sb.ID, "err", err)
		return
	}
	want := RuntimeRunning
	if sb.State == SandboxPaused {
		want = RuntimePaused
	}
	if rt == want {
		return
	}
	msg := "sandbox lost: its process is " + string(rt) + " (the node or containerd restarted?)"
	if err := s.opt.Store.TransitionSandbox(ctx, sb.ID, []SandboxState{sb.State}, SandboxFailed, SandboxChange{StatusMessage: &msg}); err == nil {
		s.opt.Logger.WarnContext(ctx, "sandbox lost", "sandbox_id", sb.ID, "runtime", rt)
		_ = s.opt.Engine.KillSandbox(ctx, sb.ID)
	}
}
