package core

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Get returns the caller's live sandbox by id or name. ErrNotFound.
func (s *Sandboxes) Get(ctx context.Context, ref string) (*Sandbox, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	sb, err := s.opt.Store.GetSandbox(ctx, p.TenantID, ref)
	if err == nil && sb.State.Live() {
		return sb, nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	sb, err = s.opt.Store.GetSandboxByName(ctx, p.TenantID, ref)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(ErrNotFound, "sandbox %q not found", ref)
	}
	return sb, err
}

// List returns a page of the caller's sandboxes.
func (s *Sandboxes) List(ctx context.Context, f SandboxFilter) ([]*Sandbox, error) {
	p, err := PrincipalFrom(ctx)
	if err != nil {
		return nil, err
	}
	for _, st := range f.States {
		if !st.Live() {
			return nil, Errorf(ErrInvalidArgument, "state must be running or paused, got %q", st)
		}
	}
	if !f.Sort.Known() {
		return nil, Errorf(ErrInvalidArgument, "unknown sort %q", f.Sort)
	}
	if f.Sort != SortCreated && !f.AfterCreated.IsZero() {
		return nil, Errorf(ErrInvalidArgument, "a cursor continues only a listing sorted by creation")
	}
	if f.Template != "" {
		snap, err := s.opt.Snapshots.Lookup(ctx, f.Template)
		switch {
		case errors.Is(err, ErrNotFound):
			// A filter naming nothing matches nothing; it is no error.
			return []*Sandbox{}, nil
		case errors.Is(err, ErrInvalidArgument):
			return nil, WithCause(ErrInvalidArgument, err, "template %q is not a template or snapshot id or name", f.Template)
		case err != nil:
			return nil, fmt.Errorf("resolve template filter %q: %w", f.Template, err)
		}
		f.SnapshotID, f.Template = snap.ID, ""
	}
	return s.opt.Store.ListSandboxes(ctx, p.TenantID, f)
}

// Pause freezes a running sandbox. ErrNotFound; ErrFailedPrecondition when
// it is not running (already paused included).
func (s *Sandboxes) Pause(ctx context.Context, ref string) error {
	sb, err := s.Get(ctx, ref)
	if err != nil {
		return err
	}
	return s.pause(ctx, sb)
}

func (s *Sandboxes) pause(ctx context.Context, sb *Sandbox) error {
	if sb.State != SandboxRunning {
		return &TransitionError{Resource: "sandbox " + sb.ID, From: string(sb.State), To: string(SandboxPaused)}
	}
	if err := s.opt.Engine.PauseSandbox(ctx, sb.ID); err != nil {
		return fmt.Errorf("pause sandbox %s: %w", sb.ID, err)
	}
	// A paused sandbox is kept until resumed or killed, unless it has a
	// delete-after-stop time: then the reaper kills it at that deadline.
	var deadline time.Time
	if sb.DeleteAfterStop > 0 {
		deadline = s.opt.Clock.Now().Add(sb.DeleteAfterStop)
	}
	if err := transitionSandbox(ctx, s.opt.Store, sb.ID, []SandboxState{SandboxRunning}, SandboxPaused, SandboxChange{Deadline: &deadline}); err != nil {
		return err
	}
	s.opt.Logger.InfoContext(ctx, "sandbox paused", "sandbox_id", sb.ID)
	return nil
}

// Resume makes a sandbox running again (resuming it if paused) and, when
// timeout > 0 (else its idle TTL, if any), moves its deadline to at least
// now+timeout. A resumed sandbox without either has no deadline. It
// reports whether the sandbox was paused. ErrNotFound.
func (s *Sandboxes) Resume(ctx context.Context, ref string, timeout time.Duration) (*Sandbox, bool, error) {
	sb, err := s.Get(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	wasPaused := sb.State == SandboxPaused
	now := s.opt.Clock.Now()
	change := SandboxChange{}
	if timeout <= 0 {
		timeout = sb.IdleTTL
	}
	if wasPaused && timeout <= 0 {
		// The paused sandbox's deadline was its delete-after-stop time.
		var never time.Time
		change.Deadline, sb.Deadline = &never, never
	}
	if timeout > 0 {
		if d := now.Add(timeout); wasPaused || sb.Deadline.IsZero() || d.After(sb.Deadline) {
			change.Deadline, sb.Deadline = &d, d
		}
	}
	switch sb.State {
	case SandboxPaused:
		if err := s.opt.Engine.ResumeSandbox(ctx, sb.ID); err != nil {
			return nil, false, fmt.Errorf("resume sandbox %s: %w", sb.ID, err)
		}
		err = transitionSandbox(ctx, s.opt.Store, sb.ID, []SandboxState{SandboxPaused}, SandboxRunning, change)
	case SandboxRunning:
		if change.Deadline != nil {
			err = s.opt.Store.UpdateSandbox(ctx, sb)
		}
	default:
		err = &TransitionError{Resource: "sandbox " + sb.ID, From: string(sb.State), To: string(SandboxRunning)}
	}
	if err != nil {
		return nil, false, err
	}
	sb.State = SandboxRunning
	return sb, wasPaused, nil
}

// SetTimeout sets the deadline to now+timeout (it may shorten it).
func (s *Sandboxes) SetTimeout(ctx context.Context, ref string, timeout time.Duration) (*Sandbox, error) {
	if timeout <= 0 {
		return nil, Errorf(ErrInvalidArgument, "timeout must be positive")
	}
	sb, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	sb.Deadline = s.opt.Clock.Now().Add(timeout)
	if err := s.opt.Store.UpdateSandbox(ctx, sb); err != nil {
		return nil, err
	}
	return sb, nil
}

// SandboxUpdate changes a sandbox's name, timeout action, metadata, idle
// TTL or delete-after-stop time; nil leaves a field as it is.
type SandboxUpdate struct {
	Name      *string
	OnTimeout *TimeoutAction
	Metadata  map[string]string
	// IdleTTL re-arms a running sandbox's deadline to now+TTL with pause as
	// its action (0: no deadline); a paused one gets it when resumed.
	IdleTTL *time.Duration
	// DeleteAfterStop moves a paused sandbox's deadline to now+it (0: kept
	// until deleted); a running one gets it when paused.
	DeleteAfterStop *time.Duration
}

// Update applies u. ErrNotFound, ErrInvalidArgument, ErrAlreadyExists.
func (s *Sandboxes) Update(ctx context.Context, ref string, u SandboxUpdate) (*Sandbox, error) {
	sb, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if u.Name != nil {
		if err := ValidateName("name", *u.Name); err != nil {
			return nil, err
		}
		sb.Name = *u.Name
	}
	if u.OnTimeout != nil {
		sb.OnTimeout = *u.OnTimeout
	}
	if u.Metadata != nil {
		if err := ValidateMetadata("metadata", u.Metadata); err != nil {
			return nil, err
		}
		sb.Metadata = u.Metadata
	}
	if err := s.updateLifecycle(sb, u); err != nil {
		return nil, err
	}
	if err := s.opt.Store.UpdateSandbox(ctx, sb); err != nil {
		return nil, err
	}
	return sb, nil
}

// UpdateNetwork replaces the egress policy of a running or paused sandbox
// (E2B updateNetwork): recorded first, then applied by the engine, so a
// sandbox resumed or restarted later gets it too. Port access (private
// ports, the request host mask) is kept. ErrNotFound, ErrInvalidArgument.
func (s *Sandboxes) UpdateNetwork(ctx context.Context, ref string, egress NetworkPolicy) (*Sandbox, error) {
	sb, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	sb.Network.AllowOut, sb.Network.AllowDomains, sb.Network.DenyOut = egress.AllowOut, egress.AllowDomains, egress.DenyOut
	if err := s.opt.Store.UpdateSandbox(ctx, sb); err != nil {
		return nil, err
	}
	if err := s.opt.Engine.SetSandboxNetwork(ctx, sb.ID, sb.Network); err != nil {
		return nil, fmt.Errorf("apply the network policy of sandbox %s: %w", sb.ID, err)
	}
	return sb, nil
}

// Kill stops a sandbox for good. ErrNotFound.
func (s *Sandboxes) Kill(ctx context.Context, ref string) error {
	sb, err := s.Get(ctx, ref)
	if err != nil {
		return err
	}
	return s.kill(ctx, sb, "")
}

// kill records the sandbox killed first, so it is never reported running
// without a task; a crash before the engine call leaves a container the
// reconciler removes.
func (s *Sandboxes) kill(ctx context.Context, sb *Sandbox, reason string) error {
	ch := SandboxChange{}
	if reason != "" {
		ch.StatusMessage = &reason
	}
	if err := transitionSandbox(ctx, s.opt.Store, sb.ID, SandboxPredecessors(SandboxKilled), SandboxKilled, ch); err != nil {
		if errors.Is(err, ErrFailedPrecondition) {
			return Errorf(ErrNotFound, "sandbox %q not found", sb.ID)
		}
		return err
	}
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.opt.Engine.KillSandbox(kctx, sb.ID); err != nil {
		s.opt.Logger.WarnContext(ctx, "kill sandbox container (the reconciler retries)", "sandbox_id", sb.ID, "err", err)
	}
	s.opt.Logger.InfoContext(ctx, "sandbox killed", "sandbox_id", sb.ID, "reason", reason)
	return nil
}

// updateLifecycle applies u's idle TTL and delete-after-stop time to sb,
// re-arming the deadline of the state each one governs.
func (s *Sandboxes) updateLifecycle(sb *Sandbox, u SandboxUpdate) error {
	if (u.IdleTTL != nil && *u.IdleTTL < 0) || (u.DeleteAfterStop != nil && *u.DeleteAfterStop < 0) {
		return Errorf(ErrInvalidArgument, "idle TTL and delete-after-stop must not be negative")
	}
	now := s.opt.Clock.Now()
	rearm := func(d time.Duration) {
		sb.Deadline = time.Time{}
		if d > 0 {
			sb.Deadline = now.Add(d)
		}
	}
	if u.IdleTTL != nil {
		sb.IdleTTL = *u.IdleTTL
		if sb.State != SandboxPaused {
			rearm(sb.IdleTTL)
			sb.OnTimeout = TimeoutPause
		}
	}
	if u.DeleteAfterStop != nil {
		sb.DeleteAfterStop = *u.DeleteAfterStop
		if sb.State == SandboxPaused {
			rearm(sb.DeleteAfterStop)
		}
	}
	return nil
}
