package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// MetricsOptions configures the sampler of sandbox resource usage.
type MetricsOptions struct {
	// Sandboxes resolves a caller's sandbox reference (tenancy, liveness).
	Sandboxes *Sandboxes
	Store     Store
	Engine    SandboxEngine
	Clock     Clock
	Logger    *slog.Logger
	// Node names this process: only its own sandboxes are sampled here;
	// a query about another node's sandbox is answered there (the edge
	// forwards it, see Sandboxes.Where).
	Node string
	// Interval between samples of every running sandbox. Default 5 s.
	Interval time.Duration
	// Window is how much history each sandbox keeps. Default 1 h.
	Window time.Duration
}

// SandboxMetric is one sample of a sandbox's resource usage.
type SandboxMetric struct {
	At          time.Time
	VCPUs       int
	CPUPercent  float64 // of the sandbox's vCPUs, 0–100, since the previous sample
	MemoryUsed  int64
	MemoryCache int64
	MemoryTotal int64
	DiskUsed    int64
	DiskTotal   int64 // 0: the sandbox has no bounded disk
}

// Metrics samples the running sandboxes of this node on a schedule and
// keeps a bounded in-memory history of each. History is lost on restart:
// it is for watching a sandbox, not for accounting.
type Metrics struct {
	opt   MetricsOptions
	mu    sync.Mutex
	rings map[string]*metricRing
}

// NewMetrics returns the sampler; call Run to sample.
func NewMetrics(opt MetricsOptions) (*Metrics, error) {
	if opt.Sandboxes == nil || opt.Store == nil || opt.Engine == nil || opt.Node == "" {
		return nil, errors.New("metrics: sandboxes, store, engine and node are required")
	}
	if opt.Clock == nil {
		opt.Clock = SystemClock{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Interval <= 0 {
		opt.Interval = 5 * time.Second
	}
	if opt.Window <= 0 {
		opt.Window = time.Hour
	}
	return &Metrics{opt: opt, rings: map[string]*metricRing{}}, nil
}

// Run samples every interval until ctx ends.
func (m *Metrics) Run(ctx context.Context) {
	t := time.NewTicker(m.opt.Interval)
	defer t.Stop()
	for {
		m.Sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sample takes one sample of every running sandbox of this node and drops
// the history of sandboxes no longer live (killed, failed). A paused
// sandbox keeps its history but is not sampled: its usage is frozen.
func (m *Metrics) Sample(ctx context.Context) {
	live, err := m.opt.Store.ListNodeSandboxes(ctx, m.opt.Node)
	if err != nil {
		m.opt.Logger.WarnContext(ctx, "metrics: list node sandboxes", "err", err)
		return
	}
	keep := make(map[string]bool, len(live))
	for _, sb := range live {
		keep[sb.ID] = true
		if sb.State != SandboxRunning {
			continue
		}
		if err := m.sampleOne(ctx, sb); err != nil && KindOf(err) != ErrNotFound && KindOf(err) != ErrFailedPrecondition {
			m.opt.Logger.WarnContext(ctx, "metrics: sample sandbox", "sandbox_id", sb.ID, "err", err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.rings {
		if !keep[id] {
			delete(m.rings, id)
		}
	}
}

// sampleOne reads one sandbox. Its engine call is bounded so one stuck
// shim delays a pass by at most that long.
func (m *Metrics) sampleOne(ctx context.Context, sb *Sandbox) error {
	sctx, cancel := context.WithTimeout(ctx, m.opt.Interval)
	defer cancel()
	st, err := m.opt.Engine.SandboxStats(sctx, sb.ID)
	if err != nil {
		return fmt.Errorf("stats of sandbox %s: %w", sb.ID, err)
	}
	now := m.opt.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rings[sb.ID]
	if r == nil {
		r = newMetricRing(int(m.opt.Window/m.opt.Interval) + 1)
		// The first sample's CPU share is over the task's life so far.
		r.prev, r.prevAt = SandboxStats{}, sb.StartedAt
		m.rings[sb.ID] = r
	}
	// Samples are stamped in whole seconds, as E2B's are and as queries
	// bound them, so a query's end includes its whole second.
	r.add(SandboxMetric{
		At: now.Truncate(time.Second), VCPUs: sb.VCPUs, CPUPercent: cpuPercent(r.prev.CPUTime, st.CPUTime, now.Sub(r.prevAt), sb.VCPUs),
		MemoryUsed: st.MemoryUsed, MemoryCache: st.MemoryCache, MemoryTotal: st.MemoryLimit,
		DiskUsed: st.DiskUsed, DiskTotal: st.DiskTotal,
	})
	r.prev, r.prevAt = st, now
	return nil
}

// cpuPercent is the share of vcpus the CPU time from before to after used
// over wall. A counter that went back (the task restarted) reads 0.
func cpuPercent(before, after, wall time.Duration, vcpus int) float64 {
	if wall <= 0 || vcpus <= 0 || after < before {
		return 0
	}
	pct := 100 * float64(after-before) / (float64(wall) * float64(vcpus))
	return min(pct, 100)
}

// MetricsQuery bounds the samples asked for; zero times are open ends.
type MetricsQuery struct {
	Start, End time.Time
}

// SandboxMetrics returns the caller's sandbox's samples taken within q,
// oldest first; none when nothing was sampled yet. ErrNotFound (unknown,
// another tenant's, or no longer live), ErrInvalidArgument (start after
// end).
func (m *Metrics) SandboxMetrics(ctx context.Context, ref string, q MetricsQuery) ([]SandboxMetric, error) {
	if !q.Start.IsZero() && !q.End.IsZero() && q.Start.After(q.End) {
		return nil, Errorf(ErrInvalidArgument, "start must not be after end")
	}
	sb, err := m.opt.Sandboxes.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rings[sb.ID]
	if r == nil {
		return []SandboxMetric{}, nil
	}
	return r.within(q), nil
}

// Tracked is how many sandboxes have a history.
func (m *Metrics) Tracked() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rings)
}
