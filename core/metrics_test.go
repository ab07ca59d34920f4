package core_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/core"
)

// newMetricsEnv is a sandbox service and a sampler over the fakes, both on
// a clock the test moves, with one running sandbox of 2 vCPUs.
func newMetricsEnv(t *testing.T) (*boxEnv, *core.Metrics, *manualClock, *core.Sandbox) {
	t.Helper()
	clk := &manualClock{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	e := newBoxEnv(t, clk)
	m, err := core.NewMetrics(core.MetricsOptions{
		Sandboxes: e.boxes, Store: e.store, Engine: e.eng, Clock: clk, Node: "node-1",
		Logger: slog.New(slog.DiscardHandler), Interval: 5 * time.Second, Window: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py", VCPUs: 2})
	if err != nil {
		t.Fatal(err)
	}
	return e, m, clk, sb
}

// step moves the clock 5 s, sets the sandbox's cumulative CPU time and
// takes a sample.
func step(t *testing.T, e *boxEnv, m *core.Metrics, clk *manualClock, id string, cpu time.Duration) {
	t.Helper()
	clk.Add(5 * time.Second)
	e.eng.SetStats(id, core.SandboxStats{
		CPUTime: cpu, MemoryUsed: 100 << 20, MemoryCache: 7 << 20, MemoryLimit: 512 << 20,
		DiskUsed: int64(cpu / time.Second), DiskTotal: 1 << 30,
	})
	m.Sample(t.Context())
}

func TestSandboxMetricsSamplesAndRanges(t *testing.T) {
	e, m, clk, sb := newMetricsEnv(t)
	t0 := clk.Now()
	// CPU time over wall time of two vCPUs: 5 s of 10 s, 10 s of 10 s, 0.
	for _, cpu := range []time.Duration{5 * time.Second, 15 * time.Second, 15 * time.Second} {
		step(t, e, m, clk, sb.ID, cpu)
	}
	sample := func(sec int, pct float64, disk int64) core.SandboxMetric {
		return core.SandboxMetric{
			At: t0.Add(time.Duration(sec) * time.Second), VCPUs: 2, CPUPercent: pct,
			MemoryUsed: 100 << 20, MemoryCache: 7 << 20, MemoryTotal: 512 << 20, DiskUsed: disk, DiskTotal: 1 << 30,
		}
	}
	all := []core.SandboxMetric{sample(5, 50, 5), sample(10, 100, 15), sample(15, 0, 15)}
	for _, tc := range []struct {
		name string
		q    core.MetricsQuery
		want []core.SandboxMetric
	}{
		{"no bounds", core.MetricsQuery{}, all},
		{"from start", core.MetricsQuery{Start: t0.Add(10 * time.Second)}, all[1:]},
		{"until end", core.MetricsQuery{End: t0.Add(10 * time.Second)}, all[:2]},
		{"one second", core.MetricsQuery{Start: t0.Add(10 * time.Second), End: t0.Add(10 * time.Second)}, all[1:2]},
		{"before any", core.MetricsQuery{End: t0}, []core.SandboxMetric{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.SandboxMetrics(e.ctx, sb.ID, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("samples (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := m.SandboxMetrics(e.ctx, sb.ID, core.MetricsQuery{Start: t0.Add(time.Second), End: t0}); !errors.Is(err, core.ErrInvalidArgument) {
		t.Errorf("start after end: %v, want ErrInvalidArgument", err)
	}
}

func TestSandboxMetricsTenancyAndKill(t *testing.T) {
	e, m, clk, sb := newMetricsEnv(t)
	step(t, e, m, clk, sb.ID, time.Second)
	other := core.WithPrincipal(t.Context(), core.Principal{TenantID: "tenant-b"})
	if _, err := m.SandboxMetrics(other, sb.ID, core.MetricsQuery{}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("another tenant's sandbox: %v, want ErrNotFound", err)
	}
	if _, err := m.SandboxMetrics(e.ctx, "inope", core.MetricsQuery{}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("unknown sandbox: %v, want ErrNotFound", err)
	}
	if err := e.boxes.Kill(e.ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	m.Sample(t.Context())
	if _, err := m.SandboxMetrics(e.ctx, sb.ID, core.MetricsQuery{}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("killed sandbox: %v, want ErrNotFound", err)
	}
	if n := m.Tracked(); n != 0 {
		t.Errorf("%d sandboxes keep a history after their kill, want 0", n)
	}
}

// A paused sandbox keeps its history and gains no samples; a new sandbox
// has none until sampled.
func TestSandboxMetricsPausedNotSampled(t *testing.T) {
	e, m, clk, sb := newMetricsEnv(t)
	if got, err := m.SandboxMetrics(e.ctx, sb.ID, core.MetricsQuery{}); err != nil || len(got) != 0 {
		t.Fatalf("before any sample: %v %v, want none", got, err)
	}
	step(t, e, m, clk, sb.ID, time.Second)
	if err := e.boxes.Pause(e.ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	step(t, e, m, clk, sb.ID, time.Second)
	if got, err := m.SandboxMetrics(e.ctx, sb.ID, core.MetricsQuery{}); err != nil || len(got) != 1 {
		t.Errorf("paused: %d samples (%v), want the 1 taken while running", len(got), err)
	}
}

// The history is bounded by the window: the oldest samples go first.
func TestSandboxMetricsWindow(t *testing.T) {
	e, m, clk, sb := newMetricsEnv(t)
	for range 30 {
		step(t, e, m, clk, sb.ID, 0)
	}
	got, err := m.SandboxMetrics(e.ctx, sb.ID, core.MetricsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	// A 1-minute window at 5 s holds 13 samples; the newest is now.
	if len(got) != 13 || !got[12].At.Equal(clk.Now()) || !got[0].At.Equal(clk.Now().Add(-time.Minute)) {
		t.Errorf("%d samples from %v to %v, want 13 ending now (%v)", len(got), got[0].At, got[len(got)-1].At, clk.Now())
	}
}
