package engine_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine"
)

// The test's "remote" host: a network namespace of its own behind a veth
// from the node, answering HTTP on every address it holds. It holds a
// public (test) address, the cloud metadata address and a private one,
// each routed from the node through the veth, so only the egress rules
// stand between a sandbox and any of them.
const (
	remoteNodeAddr = "198.51.100.1"
	remotePublic   = "198.51.100.2"
	remoteMetadata = "169.254.169.254"
	remotePrivate  = "192.168.231.1"
	remotePort     = "8079"
	fetchTimeout   = 2 // seconds, busybox nc -w
)

type remoteHost struct {
	ns   string // ip netns name
	link string // the node's end of the veth
	// names are the TLS server names its port 443 was asked for.
	mu    sync.Mutex
	names map[string]bool
}

func (r *remoteHost) sawName(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.names[name]
}

func startRemote(t *testing.T) *remoteHost {
	t.Helper()
	r := &remoteHost{ns: "sgtest-" + randomHex(3), link: "sgtr" + randomHex(3), names: map[string]bool{}}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", r.link).Run()
		_ = exec.Command("ip", "netns", "del", r.ns).Run()
		for _, dst := range []string{remoteMetadata, remotePrivate} {
			_ = exec.Command("ip", "route", "del", dst+"/32").Run()
		}
	})
	ip("netns", "add", r.ns)
	ip("link", "add", r.link, "type", "veth", "peer", "name", "eth0", "netns", r.ns)
	ip("addr", "add", remoteNodeAddr+"/24", "dev", r.link)
	ip("link", "set", r.link, "up")
	for _, a := range []string{remotePublic + "/24", remoteMetadata + "/32", remotePrivate + "/32"} {
		ip("-n", r.ns, "addr", "add", a, "dev", "eth0")
	}
	ip("-n", r.ns, "link", "set", "eth0", "up")
	ip("-n", r.ns, "link", "set", "lo", "up")
	ip("-n", r.ns, "route", "add", "default", "via", remoteNodeAddr)
	for _, dst := range []string{remoteMetadata, remotePrivate} {
		ip("route", "replace", dst+"/32", "via", remotePublic, "dev", r.link)
	}
	ln, err := engine.ListenInNetns("/run/netns/"+r.ns, "tcp", "0.0.0.0:"+remotePort)
	if err != nil {
		t.Fatalf("listen in the remote namespace: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprintf(w, "remote %s", strings.Split(req.Host, ":")[0])
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	// Port 80 answers the same; port 443 records the server names TLS
	// clients ask for (a handshake is not needed to tell).
	web, err := engine.ListenInNetns("/run/netns/"+r.ns, "tcp", "0.0.0.0:80")
	if err != nil {
		t.Fatalf("listen in the remote namespace: %v", err)
	}
	go func() { _ = srv.Serve(web) }()
	tlsLn, err := engine.ListenInNetns("/run/netns/"+r.ns, "tcp", "0.0.0.0:443")
	if err != nil {
		t.Fatalf("listen in the remote namespace: %v", err)
	}
	t.Cleanup(func() { _ = tlsLn.Close() })
	go func() {
		for {
			c, err := tlsLn.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_ = tls.Server(c, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
					r.mu.Lock()
					r.names[h.ServerName] = true
					r.mu.Unlock()
					return nil, errors.New("names only")
				}}).Handshake()
			}()
		}
	}()
	return r
}

// clientHello is the first record a TLS client asking for name sends.
func clientHello(t *testing.T, name string) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		_ = tls.Client(b, &tls.Config{ServerName: name}).Handshake()
		b.Close()
	}()
	head := make([]byte, 5)
	if _, err := io.ReadFull(a, head); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(head[3])<<8|int(head[4]))
	if _, err := io.ReadFull(a, body); err != nil {
		t.Fatal(err)
	}
	return append(head, body...)
}

// sendHello sends a TLS ClientHello for name from sandbox id to host:443.
func (e *env) sendHello(t *testing.T, id, host, name string) {
	t.Helper()
	hello := clientHello(t, name)
	var errb bytes.Buffer
	script := fmt.Sprintf("nc -w %d %s 443 >/dev/null", fetchTimeout, host)
	if _, err := e.eng.Exec(t.Context(), id, []string{"/bin/sh", "-c", script}, nil, bytes.NewReader(hello), nil, &errb); err != nil {
		t.Fatalf("exec nc: %v", err)
	}
}

// fetchNamed is fetch on port 80 with name as the request's Host.
func (e *env) fetchNamed(t *testing.T, id, host, name string) (string, bool) {
	t.Helper()
	var out, errb bytes.Buffer
	script := fmt.Sprintf(`printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' | nc -w %d %s 80`, name, fetchTimeout, host)
	if _, err := e.eng.Exec(t.Context(), id, []string{"/bin/sh", "-c", script}, nil, nil, &out, &errb); err != nil {
		t.Fatalf("exec nc: %v", err)
	}
	_, body, found := strings.Cut(out.String(), "\r\n\r\n")
	return body, found
}

// fetch sends an HTTP request from sandbox id to host:port with busybox
// nc (its static wget crashes resolving names without the image's libc)
// and returns the body; ok false when nothing answered.
func (e *env) fetch(t *testing.T, id, host, port string) (string, bool) {
	t.Helper()
	var out, errb bytes.Buffer
	script := fmt.Sprintf(`printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' | nc -w %d %s %s`, host, fetchTimeout, host, port)
	code, err := e.eng.Exec(t.Context(), id, []string{"/bin/sh", "-c", script}, nil, nil, &out, &errb)
	if err != nil {
		t.Fatalf("exec nc %s:%s: %v", host, port, err)
	}
	_, body, found := strings.Cut(out.String(), "\r\n\r\n")
	return body, code == 0 && found
}

func (e *env) wantFetch(t *testing.T, id, host string) {
	t.Helper()
	if got, ok := e.fetch(t, id, host, remotePort); !ok || got != "remote "+host {
		t.Errorf("sandbox %s fetching %s: %q, ok=%v; want an answer", id, host, got, ok)
	}
}

func (e *env) wantNoFetch(t *testing.T, id, host string) {
	t.Helper()
	if got, ok := e.fetch(t, id, host, remotePort); ok {
		t.Errorf("sandbox %s reached %s (%q); want no answer", id, host, got)
	}
}

func networkOptions(t *testing.T) *engine.NetworkOptions {
	return &engine.NetworkOptions{Dir: t.TempDir(), DNS: []netip.Addr{netip.MustParseAddr("192.0.2.53")}}
}

// sandboxAddr reads a sandbox's address from the hosts file it is given.
func (e *env) sandboxAddr(t *testing.T, id string) string {
	t.Helper()
	f := strings.Fields(e.sh(t, id, "tail -n 1 /etc/hosts"))
	if len(f) != 2 || f[1] != "box" {
		t.Fatalf("hosts file of %s ends %q, want its address and hostname", id, f)
	}
	return f[0]
}

func nftTable(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "inet", engine.DefaultNetworkTable).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table: %v: %s", err, out)
	}
	return string(out)
}

func TestSandboxNetworkEgress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{network: networkOptions(t)})
	r := startRemote(t)
	img := e.pullSandboxImage(t, "network")

	t.Run("default policy reaches the internet, nothing of the node's", func(t *testing.T) {
		a := e.start(t, img)
		b := e.start(t, img)
		e.wantFetch(t, a, remotePublic)
		if got := e.sh(t, a, "cat /etc/resolv.conf"); got != "nameserver 192.0.2.53\n" {
			t.Errorf("resolv.conf = %q", got)
		}
		// A server on the node (all addresses), one in sandbox B: each
		// answers the node itself, so only the rules keep A out.
		node, err := net.Listen("tcp", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		defer node.Close()
		go func() {
			for {
				c, err := node.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte("HTTP/1.0 200 OK\r\n\r\nnode"))
				c.Close()
			}
		}()
		nodePort := fmt.Sprint(node.Addr().(*net.TCPAddr).Port)
		gateway := netip.MustParsePrefix(engine.DefaultSandboxSubnet).Addr().Next().String()
		for _, host := range []string{gateway, remoteNodeAddr} {
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(host, nodePort), time.Second); err != nil {
				t.Fatalf("the node cannot reach its own server at %s: %v", host, err)
			} else {
				c.Close()
			}
			if got, ok := e.fetch(t, a, host, nodePort); ok {
				t.Errorf("sandbox reached the node's server at %s: %q", host, got)
			}
		}
		e.wantNoFetch(t, a, remoteMetadata)
		e.wantNoFetch(t, a, remotePrivate)
		e.sh(t, b, "mkdir -p /www && echo b > /www/index.html && httpd -p "+remotePort+" -h /www")
		bAddr := e.sandboxAddr(t, b)
		waitFor(t, 10*time.Second, "B's server answering the node", func() bool {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(bAddr, remotePort), time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		e.wantNoFetch(t, a, bAddr)
	})

	t.Run("allow_internet_access false denies all egress", func(t *testing.T) {
		a := e.start(t, img, func(s *core.SandboxSpec) { s.Network = core.NetworkPolicy{DenyOut: core.AllTraffic} })
		e.wantNoFetch(t, a, remotePublic)
	})

	t.Run("denyOut, allowOut and live updates", func(t *testing.T) {
		a := e.start(t, img, func(s *core.SandboxSpec) { s.Network = core.NetworkPolicy{DenyOut: []string{remotePublic + "/32"}} })
		e.wantNoFetch(t, a, remotePublic)
		if err := e.eng.SetSandboxNetwork(t.Context(), a, core.NetworkPolicy{}); err != nil {
			t.Fatal(err)
		}
		e.wantFetch(t, a, remotePublic)
		allowList := core.NetworkPolicy{AllowOut: []string{remotePublic + "/32"}, DenyOut: core.AllTraffic}
		if err := e.eng.SetSandboxNetwork(t.Context(), a, allowList); err != nil {
			t.Fatal(err)
		}
		e.wantFetch(t, a, remotePublic)
		// allowOut cannot open what the node forbids.
		allowList.AllowOut = append(allowList.AllowOut, remoteMetadata+"/32", remotePrivate+"/32")
		if err := e.eng.SetSandboxNetwork(t.Context(), a, allowList); err != nil {
			t.Fatal(err)
		}
		e.wantNoFetch(t, a, remoteMetadata)
		e.wantNoFetch(t, a, remotePrivate)
		if err := e.eng.SetSandboxNetwork(t.Context(), a, core.NetworkPolicy{DenyOut: core.AllTraffic}); err != nil {
			t.Fatal(err)
		}
		e.wantNoFetch(t, a, remotePublic)
		if err := e.eng.SetSandboxNetwork(t.Context(), "sb-missing", core.NetworkPolicy{}); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("SetSandboxNetwork of a missing sandbox = %v, want ErrNotFound", err)
		}
	})

	t.Run("host names in the allow list: HTTP Host and TLS server name", func(t *testing.T) {
		p, err := core.ParseNetworkPolicy(core.NetworkPolicy{AllowOut: []string{"allowed.test", "*.wild.test"}, DenyOut: []string{"0.0.0.0/0"}}, "allowOut", "denyOut")
		if err != nil {
			t.Fatal(err)
		}
		a := e.start(t, img, func(s *core.SandboxSpec) { s.Network = p })
		if got, ok := e.fetchNamed(t, a, remotePublic, "allowed.test"); !ok || got != "remote allowed.test" {
			t.Errorf("Host allowed.test: %q, %v; want the remote's answer", got, ok)
		}
		if got, ok := e.fetchNamed(t, a, remotePublic, "a.b.wild.test"); !ok || got != "remote a.b.wild.test" {
			t.Errorf("Host a.b.wild.test: %q, %v; want the remote's answer", got, ok)
		}
		for _, name := range []string{"other.test", "wild.test", "allowed.test.evil"} {
			if got, ok := e.fetchNamed(t, a, remotePublic, name); ok {
				t.Errorf("Host %s reached the remote: %q", name, got)
			}
		}
		e.wantNoFetch(t, a, remotePublic) // another port: only the address lists
		// A name opens no address the node forbids.
		for _, host := range []string{remoteMetadata, remotePrivate} {
			if got, ok := e.fetchNamed(t, a, host, "allowed.test"); ok {
				t.Errorf("Host allowed.test at %s reached it: %q", host, got)
			}
		}
		e.sendHello(t, a, remotePublic, "tls.wild.test")
		e.sendHello(t, a, remotePublic, "denied.test")
		waitFor(t, 5*time.Second, "the allowed server name at the remote", func() bool { return r.sawName("tls.wild.test") })
		if r.sawName("denied.test") {
			t.Error("a ClientHello for denied.test reached the remote")
		}
		// Without names in its policy a sandbox's web traffic is not
		// redirected: all of it reaches the remote again.
		if err := e.eng.SetSandboxNetwork(t.Context(), a, core.NetworkPolicy{}); err != nil {
			t.Fatal(err)
		}
		if got, ok := e.fetchNamed(t, a, remotePublic, "other.test"); !ok || got != "remote other.test" {
			t.Errorf("after the names are gone, Host other.test: %q, %v", got, ok)
		}
		if slot := slotOfSandbox(t, e.sandboxAddr(t, a)); strings.Contains(nftTable(t), "sbn-"+slot+" ") {
			t.Errorf("the redirect chain of slot %s is left", slot)
		}
	})

	t.Run("the operator's allow list opens a private range", func(t *testing.T) {
		o := networkOptions(t)
		o.Allow = []netip.Prefix{netip.MustParsePrefix(remotePrivate + "/32")}
		eng := e.engineWith(t, func(opt *engineOptions) { opt.Network, opt.DiskDir = o, e.diskDir })
		id := "sb-" + randomHex(4)
		if err := eng.StartSandbox(t.Context(), core.SandboxSpec{ID: id, Image: img, Hostname: "box"}); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = eng.KillSandbox(context.WithoutCancel(t.Context()), id) }()
		e.wantFetch(t, id, remotePrivate)
		e.wantNoFetch(t, id, remoteMetadata)
	})
}

// slotOfSandbox finds the node-side link of sandbox id by its address.
func slotOfSandbox(t *testing.T, addr string) string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "route", "show", addr+"/32").CombinedOutput()
	f := strings.Fields(string(out))
	if err != nil || len(f) < 3 || f[1] != "dev" || !strings.HasPrefix(f[2], "sgv") {
		t.Fatalf("route to sandbox %s: %q, %v", addr, out, err)
	}
	return strings.TrimPrefix(f[2], "sgv")
}

func wantNoRules(t *testing.T, slot string) {
	t.Helper()
	table := nftTable(t)
	if strings.Contains(table, "sb-"+slot+" ") || strings.Contains(table, "sb-"+slot+"\n") || strings.Contains(table, `"sgv`+slot+`"`) {
		t.Errorf("rules of slot %s left in the table:\n%s", slot, table)
	}
	if exec.Command("ip", "link", "show", "sgv"+slot).Run() == nil {
		t.Errorf("link sgv%s left on the node", slot)
	}
}

// Not parallel: its remote host holds the same addresses as
// TestSandboxNetworkEgress's.
func TestSandboxNetworkCleanup(t *testing.T) {
	o := networkOptions(t)
	e := newEnv(t, envOptions{network: o, warmPool: 1})
	startRemote(t)
	img := e.pullSandboxImage(t, "netclean")

	t.Run("warm sandboxes take the policy they are adopted with", func(t *testing.T) {
		id := e.start(t, img) // makes the image warm
		e.waitWarm(t, img, 1)
		e.wantFetch(t, id, remotePublic)
		adopted := e.start(t, img, func(s *core.SandboxSpec) { s.Network = core.NetworkPolicy{DenyOut: core.AllTraffic} })
		e.wantNoFetch(t, adopted, remotePublic)
		e.waitWarm(t, img, 1)
		open := e.start(t, img)
		e.wantFetch(t, open, remotePublic)
	})

	t.Run("kill removes rules, link and files", func(t *testing.T) {
		id := e.start(t, img)
		slot := slotOfSandbox(t, e.sandboxAddr(t, id))
		if !strings.Contains(nftTable(t), "chain sb-"+slot+" ") {
			t.Fatalf("no chain for slot %s", slot)
		}
		if err := e.eng.KillSandbox(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		wantNoRules(t, slot)
		if _, err := os.Stat(o.Dir + "/" + e.ns + "/" + id); !os.IsNotExist(err) {
			t.Errorf("network files of the killed sandbox: %v", err)
		}
	})

	t.Run("a crashed sandbox restarts on the network; its kill cleans up", func(t *testing.T) {
		id := e.start(t, img)
		slot := slotOfSandbox(t, e.sandboxAddr(t, id))
		e.killTask(t, id) // the task dies behind the engine's back
		waitFor(t, 10*time.Second, "the sandbox's link gone with its namespace", func() bool {
			return exec.Command("ip", "link", "show", "sgv"+slot).Run() != nil
		})
		restarted := e.engineWith(t, func(opt *engineOptions) { opt.Network, opt.DiskDir = o, e.diskDir })
		if err := restarted.StartSandbox(t.Context(), core.SandboxSpec{ID: id, Image: img}); err != nil {
			t.Fatal(err)
		}
		e.wantFetch(t, id, remotePublic)
		if err := restarted.KillSandbox(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		wantNoRules(t, slot)
	})

	t.Run("a restart restores dropped rules and removes stale ones", func(t *testing.T) {
		id := e.start(t, img, func(s *core.SandboxSpec) { s.Network = core.NetworkPolicy{DenyOut: []string{remotePrivate + "/32"}} })
		slot := slotOfSandbox(t, e.sandboxAddr(t, id))
		// A firewall reload drops the sandbox's rules: it reaches nothing.
		if out, err := exec.Command("nft", "delete", "element", "inet", engine.DefaultNetworkTable, "sandboxes", "{ \"sgv"+slot+"\" }").CombinedOutput(); err != nil {
			t.Fatalf("drop rules: %v: %s", err, out)
		}
		e.wantNoFetch(t, id, remotePublic)
		// A chain whose sandbox is gone, its id range free (a crash
		// between a kill's steps).
		stale := "60999"
		script := fmt.Sprintf("add chain inet %s sb-%s\nadd rule inet %[1]s sb-%[2]s accept\n", engine.DefaultNetworkTable, stale)
		cmd := exec.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("stale chain: %v: %s", err, out)
		}
		e.engineWith(t, func(opt *engineOptions) { opt.Network, opt.DiskDir = o, e.diskDir })
		e.wantFetch(t, id, remotePublic)
		wantNoRules(t, stale)
	})
}
