package core_test

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/store"
)

// manualClock is a Clock tests move by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newNodesStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "db.sqlite"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newMember(t *testing.T, st core.Store, clk core.Clock, name string, vcpus int) *core.Nodes {
	t.Helper()
	n, err := core.NewNodes(core.NodesOptions{
		Store: st, Clock: clk, Logger: slog.New(slog.DiscardHandler),
		Self:     core.Node{Name: name, Address: "http://" + name + ":8080", VCPUs: vcpus, MemoryBytes: 8 << 30},
		Interval: 5 * time.Second, Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Heartbeat(t.Context()); err != nil {
		t.Fatal(err)
	}
	return n
}

func putSandbox(t *testing.T, st core.Store, clk core.Clock, node string, state core.SandboxState, vcpus int) *core.Sandbox {
	t.Helper()
	id, err := core.NewSandboxID()
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	sb := &core.Sandbox{ID: id, TenantID: "t", Name: id, State: state, VCPUs: vcpus, MemoryBytes: 1 << 30,
		OnTimeout: core.TimeoutKill, Node: node, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateSandbox(t.Context(), sb); err != nil {
		t.Fatal(err)
	}
	return sb
}

// A node that stops heartbeating has its live sandboxes marked failed with
// a "lost" message once the timeout passed, never before, and a live
// node's sandboxes are left alone.
func TestSweepMarksDeadNodesSandboxesLost(t *testing.T) {
	t.Parallel()
	st := newNodesStore(t)
	clk := &manualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	a, b := newMember(t, st, clk, "a", 4), newMember(t, st, clk, "b", 4)
	running := putSandbox(t, st, clk, "a", core.SandboxRunning, 1)
	paused := putSandbox(t, st, clk, "a", core.SandboxPaused, 1)
	onB := putSandbox(t, st, clk, "b", core.SandboxRunning, 1)
	_ = a // a stops heartbeating from here on

	clk.Add(25 * time.Second)
	if err := b.Heartbeat(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.Sweep(t.Context())
	for _, sb := range []*core.Sandbox{running, paused, onB} {
		if got := state(t, st, sb.ID); !got.Live() {
			t.Fatalf("sandbox on %s is %s before the timeout, want live", sb.Node, got)
		}
	}

	clk.Add(10 * time.Second)
	if err := b.Heartbeat(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.Sweep(t.Context())
	b.Sweep(t.Context()) // idempotent
	for _, sb := range []*core.Sandbox{running, paused} {
		got, err := st.GetSandbox(t.Context(), "", sb.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != core.SandboxFailed {
			t.Errorf("sandbox of dead node a: state %s, want failed", got.State)
		}
		if want := "lost: the server running it stopped answering at 2026-01-02T03:04:05Z"; got.StatusMessage != want {
			t.Errorf("status message %q, want %q", got.StatusMessage, want)
		}
	}
	if got := state(t, st, onB.ID); got != core.SandboxRunning {
		t.Errorf("sandbox of live node b: state %s, want running", got)
	}
}

func state(t *testing.T, st core.Store, id string) core.SandboxState {
	t.Helper()
	sb, err := st.GetSandbox(t.Context(), "", id)
	if err != nil {
		t.Fatal(err)
	}
	return sb.State
}

// Place picks the live node with the most free vCPUs (this node on ties),
// skips dead nodes, and answers ErrResourceExhausted when none has room.
func TestPlace(t *testing.T) {
	t.Parallel()
	st := newNodesStore(t)
	clk := &manualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	a := newMember(t, st, clk, "a", 4)
	newMember(t, st, clk, "b", 4)
	ctx := t.Context()

	place := func(vcpus int) string {
		t.Helper()
		n, err := a.Place(ctx, vcpus, 1<<30)
		if err != nil {
			t.Fatalf("Place(%d): %v", vcpus, err)
		}
		return n.Name
	}
	if got := place(1); got != "a" {
		t.Errorf("idle cluster: placed on %s, want a (this node wins ties)", got)
	}
	putSandbox(t, st, clk, "a", core.SandboxRunning, 1)
	if got := place(1); got != "b" {
		t.Errorf("a holds one sandbox: placed on %s, want b", got)
	}
	addr, err := a.Forward(ctx, "b")
	if err != nil || addr != "http://b:8080" {
		t.Errorf("Forward(b) = %q, %v; want http://b:8080", addr, err)
	}
	if addr, _ := a.Forward(ctx, "a"); addr != "" {
		t.Errorf("Forward(self) = %q, want \"\"", addr)
	}
	if _, err := a.Place(ctx, 4, 1<<30); !errors.Is(err, core.ErrResourceExhausted) {
		// b has 4 free vCPUs: it must fit there.
		if err != nil {
			t.Errorf("Place(4) on b: %v", err)
		}
	}

	clk.Add(31 * time.Second) // b is dead now, a is this node
	if got := place(1); got != "a" {
		t.Errorf("b dead: placed on %s, want a", got)
	}
	if addr, _ := a.Forward(ctx, "b"); addr != "" {
		t.Errorf("Forward(dead b) = %q, want \"\" (answered here as lost)", addr)
	}
	_, err = a.Place(ctx, 4, 1<<30)
	if !errors.Is(err, core.ErrResourceExhausted) || !strings.Contains(err.Error(), "no node has room") {
		t.Errorf("Place(4) with b dead and a holding 1 of 4: %v, want ErrResourceExhausted", err)
	}
	if err := a.Admit(ctx, 4, 1<<30); !errors.Is(err, core.ErrResourceExhausted) {
		t.Errorf("Admit(4) on a holding 1 of 4: %v, want ErrResourceExhausted", err)
	}
	if err := a.Admit(ctx, 3, 1<<30); err != nil {
		t.Errorf("Admit(3) on a holding 1 of 4: %v", err)
	}
}
