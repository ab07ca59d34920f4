package core

import (
	"context"
	"errors"
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
	recon := time.NewTicker(s.opt.ReconcileInterval)
	defer recon.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-reap.C:
			s.reapExpired(ctx)
		case <-recon.C:
			s.reconcile(ctx, false)
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

// Reconcile compares this node's live sandboxes with the engine, as at
// start-up: a running sandbox found frozen is thawed at once (a capture's
// process died between freeze and thaw).
func (s *Sandboxes) Reconcile(ctx context.Context) { s.reconcile(ctx, true) }

// reconcile is Reconcile; with thawNow false (periodic passes) a frozen
// running sandbox is thawed only if it was seen so in the previous pass
// too, as a pause of this process may be between its freeze and its write.
func (s *Sandboxes) reconcile(ctx context.Context, thawNow bool) {
	live, err := s.opt.Store.ListNodeSandboxes(ctx, s.opt.Node)
	if err != nil {
		s.opt.Logger.WarnContext(ctx, "list node sandboxes", "err", err)
		return
	}
	// Containers are listed after rows: a row is written before its
	// container, so a container without a row here, nor in a second
	// listing of rows made after the containers', is an orphan.
	containers, err := s.opt.Engine.ListSandboxContainers(ctx)
	if err != nil {
		s.opt.Logger.WarnContext(ctx, "list sandbox containers", "err", err)
		return
	}
	known := make(map[string]bool, len(live))
	for _, sb := range live {
		known[sb.ID] = true
		if sb.State == SandboxStarting {
			if !s.isCreating(sb.ID) {
				s.failAbandonedStart(ctx, sb)
			}
			continue // else its creator is still working on it
		}
		s.checkRuntime(ctx, sb, thawNow)
	}
	var orphans []string
	for _, id := range containers {
		if !known[id] {
			orphans = append(orphans, id)
		}
	}
	if len(orphans) > 0 {
		// A sandbox created since the rows were listed has its row written
		// before its container: list rows again, after the containers, so
		// such a sandbox is not taken for an orphan and killed.
		again, err := s.opt.Store.ListNodeSandboxes(ctx, s.opt.Node)
		if err != nil {
			s.opt.Logger.WarnContext(ctx, "list node sandboxes", "err", err)
			return
		}
		for _, sb := range again {
			known[sb.ID] = true
		}
	}
	for _, id := range orphans {
		if !known[id] {
			s.opt.Logger.InfoContext(ctx, "removing orphan sandbox container", "sandbox_id", id)
			if err := s.opt.Engine.KillSandbox(ctx, id); err != nil {
				s.opt.Logger.WarnContext(ctx, "remove orphan sandbox", "sandbox_id", id, "err", err)
			}
		}
	}
}

func (s *Sandboxes) checkRuntime(ctx context.Context, sb *Sandbox, thawNow bool) {
	rt, err := s.opt.Engine.SandboxState(ctx, sb.ID)
	if err != nil {
		s.opt.Logger.WarnContext(ctx, "sandbox runtime state", "sandbox_id", sb.ID, "err", err)
		return
	}
	want := RuntimeRunning
	if sb.State == SandboxPaused {
		want = RuntimePaused
	}
	frozen := rt == RuntimePaused && want == RuntimeRunning
	s.mu.Lock()
	seen := s.frozen[sb.ID]
	delete(s.frozen, sb.ID)
	if frozen && !thawNow && !seen {
		s.frozen[sb.ID] = true
	}
	s.mu.Unlock()
	if rt == want {
		return
	}
	if frozen {
		if !thawNow && !seen {
			return // look again next pass
		}
		// A capture froze it and its process died before thawing it.
		if err := s.opt.Engine.ResumeSandbox(ctx, sb.ID); err == nil {
			s.opt.Logger.InfoContext(ctx, "resumed sandbox left frozen", "sandbox_id", sb.ID)
			return
		}
	}
	msg := "sandbox lost: its process is " + string(rt) + " (the node or containerd restarted?)"
	if err := transitionSandbox(ctx, s.opt.Store, sb.ID, []SandboxState{sb.State}, SandboxFailed, SandboxChange{StatusMessage: &msg}); err == nil {
		s.opt.Logger.WarnContext(ctx, "sandbox lost", "sandbox_id", sb.ID, "runtime", rt)
		_ = s.opt.Engine.KillSandbox(ctx, sb.ID)
	}
}

// failAbandonedStart fails a sandbox whose start was cut off by the death
// of the process of this node that was starting it; what it had created
// in the engine is removed.
func (s *Sandboxes) failAbandonedStart(ctx context.Context, sb *Sandbox) {
	msg := "sandbox failed to start: the server stopped while starting it; create it again"
	if err := transitionSandbox(ctx, s.opt.Store, sb.ID, []SandboxState{SandboxStarting}, SandboxFailed, SandboxChange{StatusMessage: &msg}); err != nil {
		if te := (*TransitionError)(nil); errors.As(err, &te) {
			// Its creator finished (or it was killed) since the rows were
			// listed: not abandoned after all.
			return
		}
		s.opt.Logger.WarnContext(ctx, "fail abandoned sandbox start", "sandbox_id", sb.ID, "err", err)
		return
	}
	s.opt.Logger.WarnContext(ctx, "sandbox start abandoned by a stopped server", "sandbox_id", sb.ID)
	if err := s.opt.Engine.KillSandbox(ctx, sb.ID); err != nil {
		s.opt.Logger.WarnContext(ctx, "remove abandoned sandbox", "sandbox_id", sb.ID, "err", err)
	}
}
