package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine/netpolicy"
)

// The egress filter (egressfilter.go) judges by name the web connections
// of sandboxes whose policy allows host names (core.NetworkPolicy
// AllowDomains): their chains redirect TCP to ports 80 and 443 here. It
// reads what the client sends first, the TLS ClientHello's server name or
// the HTTP request's Host, decides as the sandbox's chain would with the
// name allowed or not (netpolicy.Node.Allows), and if allowed connects
// to the original destination from the node and relays both ways, the
// bytes it read first included. It never terminates TLS.
//
// As with E2B's filter, the name is the client's word: a sandbox may send
// an allowed name to another address. What no sandbox may reach (the
// node, metadata, other sandboxes, private ranges unless the operator
// allows them) stays closed whatever the name, judged by address.
const (
	// sniffTimeout bounds waiting for the client's first bytes.
	sniffTimeout = 10 * time.Second
	// sniffLimit bounds what is read before a name is found.
	sniffLimit = 16 << 10
	// filterDialTimeout bounds connecting to the destination.
	filterDialTimeout = 10 * time.Second
	// filterConns bounds the connections relayed at once (all sandboxes).
	filterConns = 4096
	// filterConnsPerSandbox bounds one sandbox's share of them: redirected
	// connections bypass its chain's connection rate, and one sandbox
	// holding every slot would cut the others' named connections.
	filterConnsPerSandbox = 256
)

type egressFilter struct {
	ln   net.Listener
	node *netpolicy.Node
	log  *slog.Logger
	live sync.Map // netip.Addr (a sandbox's) -> core.NetworkPolicy
	sem  chan struct{}
	wg   sync.WaitGroup

	mu        sync.Mutex
	bySource  map[netip.Addr]int // connections being handled per sandbox
	perSource int
}

// startEgressFilter listens on the gateway address, which the node holds
// only while some sandbox link exists, hence IP_FREEBIND; nothing but the
// sandboxes' redirected connections reaches it (the input rules).
func startEgressFilter(gw netip.Addr, node *netpolicy.Node, log *slog.Logger) (*egressFilter, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp4", netip.AddrPortFrom(gw, 0).String())
	if err != nil {
		return nil, fmt.Errorf("egress filter: %w", err)
	}
	f := &egressFilter{ln: ln, node: node, log: log, sem: make(chan struct{}, filterConns),
		bySource: map[netip.Addr]int{}, perSource: filterConnsPerSandbox}
	node.FilterPort = uint16(ln.Addr().(*net.TCPAddr).Port)
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

func (f *egressFilter) close() {
	_ = f.ln.Close()
	f.wg.Wait()
}

func (f *egressFilter) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // out of fds: let some close
			continue
		}
		src := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		if !f.take(src) {
			_ = c.Close() // too many at once: refuse, do not queue
			continue
		}
		go func() {
			defer f.give(src)
			f.handle(c.(*net.TCPConn), src)
		}()
	}
}

// take reserves a slot for a connection from src: one of the filter's
// and one of src's share; false when either is used up.
func (f *egressFilter) take(src netip.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bySource[src] >= f.perSource {
		return false
	}
	select {
	case f.sem <- struct{}{}:
	default:
		return false
	}
	f.bySource[src]++
	return true
}

func (f *egressFilter) give(src netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	<-f.sem
	if f.bySource[src]--; f.bySource[src] <= 0 {
		delete(f.bySource, src)
	}
}

// handle judges and relays one connection from the sandbox at src.
func (f *egressFilter) handle(c *net.TCPConn, src netip.Addr) {
	defer c.Close()
	v, ok := f.live.Load(src)
	if !ok {
		return // not a sandbox this process runs
	}
	p := v.(core.NetworkPolicy)
	dst, err := originalDst(c)
	if err != nil {
		f.log.Warn("egress filter: original destination", "src", src, "err", err)
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	name, head := sniffName(c)
	_ = c.SetReadDeadline(time.Time{})
	named := name != "" && p.AllowsName(name)
	if !f.node.Allows(dst.Addr(), p, named) {
		f.log.Debug("egress filter: refused", "src", src, "dst", dst, "name", name)
		return
	}
	up, err := net.DialTimeout("tcp4", dst.String(), filterDialTimeout)
	if err != nil {
		return
	}
	defer up.Close()
	if _, err := up.Write(head); err != nil {
		return
	}
	relay(c, up.(*net.TCPConn))
}

// relay copies both ways until both directions end, passing each
// direction's end on as a half close.
func relay(a, b *net.TCPConn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src *net.TCPConn) {
		_, _ = io.Copy(dst, src)
		_ = dst.CloseWrite()
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
}

// originalDst is where a redirected connection was going (SO_ORIGINAL_DST).
func originalDst(c *net.TCPConn) (netip.AddrPort, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var out netip.AddrPort
	var serr error
	if err := raw.Control(func(fd uintptr) {
		var m *unix.IPv6Mreq // 16 bytes: a sockaddr_in
		if m, serr = unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST); serr != nil {
			return
		}
		port := binary.BigEndian.Uint16(m.Multiaddr[2:4])
		out = netip.AddrPortFrom(netip.AddrFrom4([4]byte(m.Multiaddr[4:8])), port)
	}); err != nil {
		return out, err
	}
	return out, serr
}

// sniffName reads the connection's first bytes for the name it asks
// for: the server name of a TLS ClientHello, else the Host of an HTTP
// request. head is every byte read, to be sent on; name is "" when none
// was found (the address lists decide then).
func sniffName(c net.Conn) (name string, head []byte) {
	rec := &recorder{r: io.LimitReader(c, sniffLimit)}
	br := bufio.NewReader(rec)
	first, err := br.Peek(1)
	if err != nil {
		return "", rec.buf.Bytes()
	}
	if first[0] == 0x16 { // a TLS handshake record
		errSeen := errors.New("client hello read")
		srv := tls.Server(&sniffConn{r: br}, &tls.Config{
			GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
				name = h.ServerName
				return nil, errSeen
			},
		})
		_ = srv.Handshake()
		return name, rec.buf.Bytes()
	}
	if req, err := http.ReadRequest(br); err == nil {
		name = req.Host
		if h, _, err := net.SplitHostPort(name); err == nil {
			name = h
		}
	}
	return name, rec.buf.Bytes()
}

// recorder keeps what is read through it.
type recorder struct {
	r   io.Reader
	buf bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

// sniffConn feeds crypto/tls the client's bytes and swallows its answer
// (an alert after the ClientHello is refused on purpose).
type sniffConn struct {
	net.Conn
	r io.Reader
}

func (s *sniffConn) Read(p []byte) (int, error)       { return s.r.Read(p) }
func (s *sniffConn) Write(p []byte) (int, error)      { return len(p), nil }
func (s *sniffConn) Close() error                     { return nil }
func (s *sniffConn) SetDeadline(time.Time) error      { return nil }
func (s *sniffConn) SetReadDeadline(time.Time) error  { return nil }
func (s *sniffConn) SetWriteDeadline(time.Time) error { return nil }
func (s *sniffConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *sniffConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
