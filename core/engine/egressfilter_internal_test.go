package engine

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine/netpolicy"
)

// One sandbox holding connections open at the filter (they wait for a
// first byte that never comes) gets at most its share; the next is
// closed at once instead of queued.
func TestEgressFilterBoundsEachSandbox(t *testing.T) {
	node := &netpolicy.Node{Subnet: netip.MustParsePrefix("10.213.0.0/16")}
	f, err := startEgressFilter(netip.MustParseAddr("127.0.0.1"), node, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	f.perSource = 2
	f.live.Store(netip.MustParseAddr("127.0.0.1"), core.NetworkPolicy{AllowDomains: []string{"a.test"}})
	addr := f.ln.Addr().String()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Each waits in the filter for its first bytes (its original
	// destination is itself: loopback connections are tracked too).
	for i := 0; i < 2; i++ {
		held = append(held, dial())
	}
	for deadline := time.Now().Add(5 * time.Second); taken(f) != 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the filter holds %d connections, want 2", taken(f))
		}
	}
	third := dial()
	defer third.Close()
	_ = third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := third.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("a third connection: read %v, want it closed at once (EOF)", err)
	}
}

func taken(f *egressFilter) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bySource[netip.MustParseAddr("127.0.0.1")]
}
