package core

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"
)

// DataplaneOptions configures the dataplane service.
type DataplaneOptions struct {
	Store  Store
	Engine DataplaneEngine
	// Sandboxes resumes a paused sandbox a LangSmith dataplane call reaches.
	Sandboxes *Sandboxes
	Clock     Clock
	Logger    *slog.Logger
	// FinishedTTL is how long an exited process stays re-attachable
	// (output and exit status). Default 10 min.
	FinishedTTL time.Duration
	// OutputBuffer bounds the output kept per stream of a process for
	// re-attach; older bytes are dropped. Default 4 MiB.
	OutputBuffer int
}

// Dataplane runs commands and moves files inside sandboxes for both
// vendors' in-sandbox APIs.
//
// Processes live in memory: each gets a pid unique within its sandbox
// (1, 2, ... for the life of this service; not the pid inside the
// sandbox), its output is kept in a bounded buffer per stream for late
// and repeated readers, and it is forgotten FinishedTTL after it exited.
// A process does not end with the request that started it.
type Dataplane struct {
	opt DataplaneOptions

	mu    sync.Mutex
	boxes map[string]*boxProcesses // sandbox id ->
}

// boxProcesses is the bookkeeping of one sandbox's processes.
type boxProcesses struct {
	lastPID uint32
	byPID   map[uint32]*Process
	byKey   map[string]*keyedStart
}

// keyedStart is a Start under an idempotency key. Starts with the same key
// wait for done and share its result.
type keyedStart struct {
	done chan struct{}
	p    *Process
	err  error
}

// NewDataplane returns the service.
func NewDataplane(opt DataplaneOptions) (*Dataplane, error) {
	if opt.Store == nil || opt.Engine == nil {
		return nil, errors.New("dataplane: store and engine are required")
	}
	if opt.Clock == nil {
		opt.Clock = SystemClock{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.FinishedTTL <= 0 {
		opt.FinishedTTL = 10 * time.Minute
	}
	if opt.OutputBuffer <= 0 {
		opt.OutputBuffer = 4 << 20
	}
	return &Dataplane{opt: opt, boxes: map[string]*boxProcesses{}}, nil
}

// Target is a sandbox a dataplane call was authorized for.
type Target struct {
	Sandbox *Sandbox
}

// targetID checks t and returns its sandbox id.
func targetID(t *Target) (string, error) {
	if t == nil || t.Sandbox == nil || t.Sandbox.ID == "" {
		return "", errors.New("dataplane: no target sandbox")
	}
	return t.Sandbox.ID, nil
}

// Process returns a process of the sandbox, running or recently exited,
// by pid. ErrNotFound.
func (d *Dataplane) Process(ctx context.Context, t *Target, pid uint32) (*Process, error) {
	id, err := targetID(t)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if b := d.boxes[id]; b != nil && b.byPID[pid] != nil {
		return b.byPID[pid], nil
	}
	return nil, Errorf(ErrNotFound, "process with pid %d not found", pid)
}

// ProcessByKey returns the process started with idempotency key key,
// waiting for a start under that key still in progress. ErrNotFound.
func (d *Dataplane) ProcessByKey(ctx context.Context, t *Target, key string) (*Process, error) {
	id, err := targetID(t)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	var ks *keyedStart
	if b := d.boxes[id]; b != nil && key != "" {
		ks = b.byKey[key]
	}
	d.mu.Unlock()
	if ks == nil {
		return nil, Errorf(ErrNotFound, "command %q not found", key)
	}
	select {
	case <-ks.done:
	case <-ctx.Done():
		return nil, WithCause(ErrUnavailable, ctx.Err(), "command %q is still starting", key)
	}
	if ks.err != nil {
		return nil, Errorf(ErrNotFound, "command %q not found", key)
	}
	return ks.p, nil
}

// Processes lists the sandbox's running processes by pid.
func (d *Dataplane) Processes(ctx context.Context, t *Target) ([]ProcessInfo, error) {
	id, err := targetID(t)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	var procs []*Process
	if b := d.boxes[id]; b != nil {
		for _, p := range b.byPID {
			procs = append(procs, p)
		}
	}
	d.mu.Unlock()
	out := []ProcessInfo{}
	for _, p := range procs {
		if info := p.Info(); !info.Exited {
			out = append(out, info)
		}
	}
	slices.SortFunc(out, func(a, b ProcessInfo) int { return int(a.PID) - int(b.PID) })
	return out, nil
}

// box returns sandbox id's bookkeeping, creating it. d.mu must be held.
func (d *Dataplane) box(id string) *boxProcesses {
	b := d.boxes[id]
	if b == nil {
		b = &boxProcesses{byPID: map[uint32]*Process{}, byKey: map[string]*keyedStart{}}
		d.boxes[id] = b
	}
	return b
}

// claimKey returns the start under key and whether the caller owns it
// (and must settle it).
func (d *Dataplane) claimKey(id, key string) (*keyedStart, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.box(id)
	if ks := b.byKey[key]; ks != nil {
		return ks, false
	}
	ks := &keyedStart{done: make(chan struct{})}
	b.byKey[key] = ks
	return ks, true
}

// settleKey records the result of a keyed start. A failed start frees
// the key: the client may try again.
func (d *Dataplane) settleKey(id, key string, ks *keyedStart, p *Process, err error) {
	d.mu.Lock()
	ks.p, ks.err = p, err
	if b := d.boxes[id]; err != nil && b != nil && b.byKey[key] == ks {
		delete(b.byKey, key)
	}
	d.mu.Unlock()
	close(ks.done)
}

// register gives p its pid and makes it findable.
func (d *Dataplane) register(p *Process) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.box(p.sandboxID)
	b.lastPID++
	p.info.PID = b.lastPID
	b.byPID[p.info.PID] = p
}

// forget drops an exited process. When it was the sandbox's last one, the
// sandbox's bookkeeping (its pid counter) goes too once the sandbox is
// gone: pids are never reused within a live sandbox.
func (d *Dataplane) forget(p *Process) {
	d.mu.Lock()
	b := d.boxes[p.sandboxID]
	if b != nil && b.byPID[p.info.PID] == p {
		delete(b.byPID, p.info.PID)
	}
	if ks := b.byKeyFor(p.info.Key); ks != nil && ks.p == p {
		delete(b.byKey, p.info.Key)
	}
	empty := b != nil && len(b.byPID) == 0 && len(b.byKey) == 0
	d.mu.Unlock()
	if !empty {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := d.opt.Store.GetSandbox(ctx, "", p.sandboxID)
	if errors.Is(err, ErrNotFound) || (err == nil && !sb.State.Live()) {
		d.forgetSandbox(p.sandboxID)
	}
}

func (b *boxProcesses) byKeyFor(key string) *keyedStart {
	if b == nil || key == "" {
		return nil
	}
	return b.byKey[key]
}

// forgetSandbox drops everything about a sandbox that is gone.
func (d *Dataplane) forgetSandbox(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if b := d.boxes[id]; b != nil {
		for _, p := range b.byPID {
			if !p.Info().Exited {
				return // its process still reports: it will come back here
			}
		}
		delete(d.boxes, id)
	}
}

// DialPort connects to TCP port of t's sandbox (its loopback, so servers
// bound to 127.0.0.1 answer as well as those bound to every address), for
// the vendors' port proxies. ErrInvalidArgument (port), ErrFailedPrecondition,
// ErrUnavailable (nothing listens).
func (d *Dataplane) DialPort(ctx context.Context, t *Target, port int) (net.Conn, error) {
	id, err := targetID(t)
	if err != nil {
		return nil, err
	}
	if port < 1 || port > 65535 {
		return nil, Errorf(ErrInvalidArgument, "port %d is not between 1 and 65535", port)
	}
	return d.opt.Engine.DialPort(ctx, id, uint16(port))
}
