package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"
)

// Node is a snapgate process that runs sandboxes. Every node heartbeats
// into the shared store; a node whose heartbeat is older than the timeout
// is dead: its live sandboxes are marked failed ("lost") by whichever node
// sweeps first, and calls are no longer sent to it.
type Node struct {
	Name string
	// Address is the base URL other nodes reach this one at
	// (http://10.0.0.5:8080).
	Address     string
	VCPUs       int
	MemoryBytes int64
	HeartbeatAt time.Time
	// UsedVCPUs and UsedMemoryBytes are what its live sandboxes hold; read
	// only (ListNodes fills them).
	UsedVCPUs       int
	UsedMemoryBytes int64
}

// NodesOptions configures the node service.
type NodesOptions struct {
	Store  Store
	Clock  Clock
	Logger *slog.Logger
	// Self is this node: name, address and capacity.
	Self Node
	// Interval is how often the node heartbeats and sweeps (default 5s).
	Interval time.Duration
	// Timeout is how old a heartbeat may be before its node counts as dead
	// (default 30s).
	Timeout time.Duration
	// Pids bounds the processes this node's sandboxes may hold together
	// (Admit); the zero value leaves it unchecked.
	Pids PidsBudget
}

// Nodes is the cluster membership service: heartbeats, loss of sandboxes
// on dead nodes, placement of new sandboxes, and where a sandbox is served.
type Nodes struct {
	opt NodesOptions
}

// NewNodes returns the service; call Run to start heartbeating.
func NewNodes(opt NodesOptions) (*Nodes, error) {
	if opt.Store == nil || opt.Self.Name == "" {
		return nil, errors.New("nodes: store and node name are required")
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
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.Timeout <= opt.Interval {
		return nil, fmt.Errorf("nodes: heartbeat timeout %s must exceed the interval %s", opt.Timeout, opt.Interval)
	}
	return &Nodes{opt: opt}, nil
}

// Self is this node's name.
func (n *Nodes) Self() string { return n.opt.Self.Name }

// Run heartbeats and sweeps at once and then every interval until ctx ends.
func (n *Nodes) Run(ctx context.Context) {
	t := time.NewTicker(n.opt.Interval)
	defer t.Stop()
	for {
		if err := n.Heartbeat(ctx); err != nil && ctx.Err() == nil {
			n.opt.Logger.WarnContext(ctx, "node heartbeat", "err", err)
		}
		n.Sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Heartbeat records this node as alive now.
func (n *Nodes) Heartbeat(ctx context.Context) error {
	self := n.opt.Self
	self.HeartbeatAt = n.opt.Clock.Now()
	if err := n.opt.Store.UpsertNode(ctx, &self); err != nil {
		return fmt.Errorf("heartbeat of node %s: %w", self.Name, err)
	}
	return nil
}

// alive reports whether node heartbeated within the timeout.
func (n *Nodes) alive(node *Node, now time.Time) bool {
	return now.Sub(node.HeartbeatAt) <= n.opt.Timeout
}

// Sweep marks the live sandboxes of every dead node failed, with a status
// message naming the node and its last heartbeat. Every node sweeps; each
// change is a compare-and-set on the state the sandbox was read in, so two
// sweepers (or a sweeper and a client's kill) never both win.
func (n *Nodes) Sweep(ctx context.Context) {
	nodes, err := n.opt.Store.ListNodes(ctx)
	if err != nil {
		if ctx.Err() == nil {
			n.opt.Logger.WarnContext(ctx, "list nodes", "err", err)
		}
		return
	}
	now := n.opt.Clock.Now()
	for _, node := range nodes {
		if n.alive(node, now) || node.Name == n.opt.Self.Name || node.UsedVCPUs == 0 && node.UsedMemoryBytes == 0 {
			continue
		}
		n.loseSandboxes(ctx, node)
	}
}

func (n *Nodes) loseSandboxes(ctx context.Context, node *Node) {
	live, err := n.opt.Store.ListNodeSandboxes(ctx, node.Name)
	if err != nil {
		n.opt.Logger.WarnContext(ctx, "list sandboxes of dead node", "node", node.Name, "err", err)
		return
	}
	// The status message is shown to tenants: the node is named in the log only.
	msg := fmt.Sprintf("lost: the server running it stopped answering at %s", node.HeartbeatAt.UTC().Format(time.RFC3339))
	for _, sb := range live {
		err := transitionSandbox(ctx, n.opt.Store, sb.ID, []SandboxState{sb.State}, SandboxFailed, SandboxChange{StatusMessage: &msg})
		if err == nil {
			n.opt.Logger.WarnContext(ctx, "sandbox lost", "sandbox_id", sb.ID, "node", node.Name, "heartbeat_at", node.HeartbeatAt)
		} else if !errors.Is(err, ErrFailedPrecondition) {
			n.opt.Logger.WarnContext(ctx, "mark sandbox lost", "sandbox_id", sb.ID, "err", err)
		}
	}
}

// Forward returns the address of node when calls about its sandboxes must
// be sent there: it is another node and it is alive. "" means answer here
// (this node, or a dead or unknown one, whose sandboxes read as lost).
func (n *Nodes) Forward(ctx context.Context, node string) (string, error) {
	if node == n.opt.Self.Name || node == "" {
		return "", nil
	}
	nd, err := n.opt.Store.GetNode(ctx, node)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if !n.alive(nd, n.opt.Clock.Now()) || nd.Address == "" {
		return "", nil
	}
	return nd.Address, nil
}

// Place chooses the node a new sandbox of vcpus and memoryBytes starts on:
// among live nodes with room for it, the one with the most free vCPUs,
// then the most free memory; this node wins ties, so a lone or idle
// cluster starts sandboxes where they were asked for. ErrResourceExhausted
// when no node has room.
func (n *Nodes) Place(ctx context.Context, vcpus int, memoryBytes int64) (*Node, error) {
	nodes, err := n.opt.Store.ListNodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("place sandbox: %w", err)
	}
	now := n.opt.Clock.Now()
	var fits []*Node
	for _, nd := range nodes {
		if nd.Name != n.opt.Self.Name && (!n.alive(nd, now) || nd.Address == "") {
			continue
		}
		if nd.Name == n.opt.Self.Name {
			// This node's capacity is its configuration, even before its
			// first heartbeat was written.
			nd.VCPUs, nd.MemoryBytes = n.opt.Self.VCPUs, n.opt.Self.MemoryBytes
		}
		if nd.VCPUs-nd.UsedVCPUs >= vcpus && nd.MemoryBytes-nd.UsedMemoryBytes >= memoryBytes {
			fits = append(fits, nd)
		}
	}
	if len(fits) == 0 {
		return nil, Errorf(ErrResourceExhausted,
			"no node has room for a sandbox of %d vCPUs and %d MiB: kill or pause sandboxes, or add nodes", vcpus, memoryBytes>>20)
	}
	sort.SliceStable(fits, func(i, j int) bool {
		a, b := fits[i], fits[j]
		if fa, fb := a.VCPUs-a.UsedVCPUs, b.VCPUs-b.UsedVCPUs; fa != fb {
			return fa > fb
		}
		if fa, fb := a.MemoryBytes-a.UsedMemoryBytes, b.MemoryBytes-b.UsedMemoryBytes; fa != fb {
			return fa > fb
		}
		if a.Name == n.opt.Self.Name || b.Name == n.opt.Self.Name {
			return a.Name == n.opt.Self.Name
		}
		return a.Name < b.Name
	})
	return fits[0], nil
}

// Admit checks that this node has room for one more sandbox of vcpus and
// memoryBytes next to its live ones, and within its pids budget.
// ErrResourceExhausted. The refusal is a tenant's answer: it names no node.
func (n *Nodes) Admit(ctx context.Context, vcpus int, memoryBytes int64) error {
	nodes, err := n.opt.Store.ListNodes(ctx)
	if err != nil {
		return fmt.Errorf("check node capacity: %w", err)
	}
	self := n.opt.Self
	for _, nd := range nodes {
		if nd.Name == self.Name {
			self.UsedVCPUs, self.UsedMemoryBytes = nd.UsedVCPUs, nd.UsedMemoryBytes
		}
	}
	if self.VCPUs-self.UsedVCPUs < vcpus || self.MemoryBytes-self.UsedMemoryBytes < memoryBytes {
		return Errorf(ErrResourceExhausted,
			"no room on this server for a sandbox of %d vCPUs and %d MiB (%d of %d vCPUs, %d of %d MiB in use)",
			vcpus, memoryBytes>>20, self.UsedVCPUs, self.VCPUs, self.UsedMemoryBytes>>20, self.MemoryBytes>>20)
	}
	return n.admitPids(ctx)
}
