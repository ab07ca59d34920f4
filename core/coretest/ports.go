package coretest

import (
	"context"
	"net"
	"strconv"
	"sync"

	"github.com/snapgate/snapgate/core"
)

// SetSandboxNetwork records p for a live sandbox (Network reads it back).
func (e *Engine) SetSandboxNetwork(_ context.Context, id string, p core.NetworkPolicy) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.sandboxes()[id]; !ok {
		return core.Errorf(core.ErrNotFound, "sandbox %s not found", id)
	}
	e.networks()[id] = p
	return nil
}

// Network returns the egress policy the engine holds for sandbox id.
func (e *Engine) Network(id string) (core.NetworkPolicy, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.networks()[id]
	return p, ok
}

func (e *Engine) networks() map[string]core.NetworkPolicy {
	if e.nets == nil {
		e.nets = map[string]core.NetworkPolicy{}
	}
	return e.nets
}

// Listen makes port of sandbox id answer DialPort: the returned listener
// accepts one in-memory connection per dial until it is closed.
func (e *DataplaneEngine) Listen(id string, port uint16) net.Listener {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ports == nil {
		e.ports = map[string]*pipeListener{}
	}
	l := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	l.close = func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.ports[portKey(id, port)] == l {
			delete(e.ports, portKey(id, port))
		}
	}
	e.ports[portKey(id, port)] = l
	return l
}

// DialPort connects to a port Listen opened; ErrUnavailable when none did,
// ErrFailedPrecondition when State says the sandbox is not running.
func (e *DataplaneEngine) DialPort(ctx context.Context, id string, port uint16) (net.Conn, error) {
	if e.State != nil {
		st, err := e.State(ctx, id)
		if err != nil {
			return nil, err
		}
		if st != core.RuntimeRunning {
			return nil, core.Errorf(core.ErrFailedPrecondition, "sandbox %s is not running", id)
		}
	}
	e.mu.Lock()
	l := e.ports[portKey(id, port)]
	e.mu.Unlock()
	if l == nil {
		return nil, core.Errorf(core.ErrUnavailable, "nothing listens on port %d in sandbox %s", port, id)
	}
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, core.Errorf(core.ErrUnavailable, "nothing listens on port %d in sandbox %s", port, id)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func portKey(id string, port uint16) string { return id + ":" + strconv.Itoa(int(port)) }

type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	close func()
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done); l.close() })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
