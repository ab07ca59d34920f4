package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine/netpolicy"
)

// Sandboxes on the node's network (network.go). Each sandbox gets a veth
// pair: eth0 in its network namespace with one address of the sandbox
// subnet, and on the node a link of its own (netpolicy.LinkName) holding
// the gateway address, with a host route to the sandbox. Routed, not
// bridged: no two sandboxes share a link layer, and the node sees which
// sandbox sent a packet by the interface it came in on, which the
// sandbox cannot forge (a bridge would leave only the source address,
// which root in a sandbox can forge with a raw socket). Made with netlink
// directly rather than CNI plugins: it is a few calls, done between the
// task's creation and its start, in a namespace runc made inside the
// sandbox's user namespace, and needs no plugin binaries on the node.
//
// The sandbox's place (its address and link name) is its user id range's
// index (userns.go): unique on the host across every snapgate process, and
// claimed before anything is made. Egress rules: netpolicy, run by nft.
// resolv.conf and hosts are files of the node bind-mounted read-only, so
// they never enter a capture and the sandbox cannot change them.
const (
	// DefaultSandboxSubnet holds the sandboxes' addresses.
	DefaultSandboxSubnet = "10.213.0.0/16"
	// DefaultNetworkDir holds each sandbox's resolv.conf, hosts and policy.
	DefaultNetworkDir = "/var/lib/snapgate/net"
	// DefaultNetworkTable is the nftables table (family inet) of snapgate.
	DefaultNetworkTable = "snapgate"
	policyFile          = "policy.json"
)

// DefaultDNS are the nameservers sandboxes get when the node has none
// they can reach (only loopback ones, as with systemd-resolved).
var DefaultDNS = []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("8.8.8.8")}

// NetworkOptions puts sandboxes on the node's network.
type NetworkOptions struct {
	// Subnet holds the sandboxes' addresses: IPv4, /16 or wider (every
	// id range index needs one). Default DefaultSandboxSubnet.
	Subnet netip.Prefix
	// Allow opens parts of netpolicy.Private to every sandbox; Deny closes
	// more (netpolicy.Node).
	Allow, Deny []netip.Prefix
	// DNS are the sandboxes' nameservers. Default: the node's own IPv4
	// nameservers that are not loopback, else DefaultDNS.
	DNS []netip.Addr
	// Dir holds each sandbox's resolv.conf, hosts and policy. Default
	// DefaultNetworkDir.
	Dir string
	// Table is the nftables table. Default DefaultNetworkTable.
	Table string
}

// sandboxNet is the node's side of the sandboxes' network.
type sandboxNet struct {
	node   netpolicy.Node
	filter *egressFilter // judges by name the connections policies allow by name
	gw     netip.Addr
	dir    string // Dir/<namespace>: one directory per sandbox
}

func newSandboxNet(ctx context.Context, o NetworkOptions, ns string, log *slog.Logger) (*sandboxNet, error) {
	if !o.Subnet.IsValid() {
		o.Subnet = netip.MustParsePrefix(DefaultSandboxSubnet)
	}
	o.Subnet = o.Subnet.Masked()
	if !o.Subnet.Addr().Is4() || o.Subnet.Bits() > 16 {
		return nil, fmt.Errorf("sandbox network: subnet %s must be IPv4 and /16 or wider", o.Subnet)
	}
	if len(o.DNS) == 0 {
		o.DNS = nodeNameservers("/etc/resolv.conf")
	}
	if o.Dir == "" {
		o.Dir = DefaultNetworkDir
	}
	if o.Table == "" {
		o.Table = DefaultNetworkTable
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, fmt.Errorf("sandbox network: the nft command is missing (install Debian's nftables): %w", err)
	}
	n := &sandboxNet{
		node: netpolicy.Node{Table: o.Table, Subnet: o.Subnet, Allow: o.Allow, Deny: o.Deny, DNS: o.DNS},
		gw:   o.Subnet.Addr().Next(),
		dir:  filepath.Join(o.Dir, ns),
	}
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox network: %w", err)
	}
	// Sandboxes reach out through the node: it must route for them.
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
		return nil, fmt.Errorf("sandbox network: enable IPv4 forwarding: %w", err)
	}
	if err := runNFT(ctx, n.node.Base()); err != nil {
		return nil, fmt.Errorf("sandbox network: %w", err)
	}
	f, err := startEgressFilter(n.gw, &n.node, log)
	if err != nil {
		return nil, fmt.Errorf("sandbox network: %w", err)
	}
	n.filter = f
	return n, nil
}

// close stops the egress filter (the rules stay: sandboxes outlive the
// process, and the next one rewrites them with its own filter).
func (n *sandboxNet) close() { n.filter.close() }

// nodeNameservers reads the IPv4 nameservers of a resolv.conf that a
// sandbox can reach (not the node's loopback); DefaultDNS when none.
func nodeNameservers(path string) []netip.Addr {
	var out []netip.Addr
	b, _ := os.ReadFile(path)
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err == nil && a.Is4() && !a.IsLoopback() && !a.IsUnspecified() {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return DefaultDNS
	}
	return out
}

// slotOf is a sandbox's place on the network: its id range's index.
func slotOf(s idShift) (int, bool) {
	if !s.on() {
		return 0, false
	}
	return int((s.base - firstHostID) / idRangeSize), true
}

// addr is the address of the sandbox in slot (after the gateway's).
func (n *sandboxNet) addr(slot int) netip.Addr {
	a := n.node.Subnet.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(slot) + 2
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (n *sandboxNet) sandboxDir(id string) string { return filepath.Join(n.dir, id) }

// prepare writes the sandbox's resolv.conf, hosts and policy and returns
// the mounts that show the first two in it.
func (n *sandboxNet) prepare(id, hostname string, slot int, p core.NetworkPolicy) ([]specs.Mount, error) {
	d := n.sandboxDir(id)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox network files: %w", err)
	}
	var resolv strings.Builder
	for _, a := range n.node.DNS {
		fmt.Fprintf(&resolv, "nameserver %s\n", a)
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", n.addr(slot), hostname)
	for name, body := range map[string]string{"resolv.conf": resolv.String(), "hosts": hosts} {
		if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o644); err != nil {
			return nil, fmt.Errorf("sandbox network files: %w", err)
		}
	}
	if err := n.setPolicy(id, p); err != nil {
		return nil, err
	}
	var mounts []specs.Mount
	for _, name := range []string{"resolv.conf", "hosts"} {
		mounts = append(mounts, specs.Mount{
			Destination: "/etc/" + name, Type: "bind", Source: filepath.Join(d, name),
			Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
		})
	}
	return mounts, nil
}

// setPolicy records p as the sandbox's egress policy (replaced whole, so
// a reader never sees half of one).
func (n *sandboxNet) setPolicy(id string, p core.NetworkPolicy) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("sandbox network policy: %w", err)
	}
	tmp := filepath.Join(n.sandboxDir(id), policyFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("sandbox network policy: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(n.sandboxDir(id), policyFile)); err != nil {
		return fmt.Errorf("sandbox network policy: %w", err)
	}
	return nil
}

// policy reads the sandbox's egress policy; without one it may reach
// nothing.
func (n *sandboxNet) policy(id string) core.NetworkPolicy {
	var p core.NetworkPolicy
	b, err := os.ReadFile(filepath.Join(n.sandboxDir(id), policyFile))
	if err != nil || json.Unmarshal(b, &p) != nil {
		return core.NetworkPolicy{DenyOut: core.AllTraffic}
	}
	return p
}

// attach puts the sandbox whose task has pid on the network under its
// recorded policy: called between the task's creation and its start, so
// the sandbox's own code never runs without its interface and rules.
func (n *sandboxNet) attach(ctx context.Context, id string, slot int, pid uint32) error {
	nsf, err := os.Open("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/ns/net")
	if err != nil {
		return fmt.Errorf("sandbox network namespace: %w", err)
	}
	defer nsf.Close()
	name, addr := netpolicy.LinkName(slot), n.addr(slot)
	// The rules go first: the link must never forward without them. (An
	// interface without its chain sends nothing anyway, see netpolicy.)
	if err := n.apply(ctx, slot, n.policy(id)); err != nil {
		return err
	}
	// A link of that name is left from an attach that failed halfway; one
	// whose sandbox ended went with its namespace.
	if l, err := netlink.LinkByName(name); err == nil {
		_ = netlink.LinkDel(l)
	}
	la := netlink.NewLinkAttrs()
	la.Name = name
	veth := &netlink.Veth{LinkAttrs: la, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(nsf.Fd()))}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("sandbox network: add veth %s: %w", name, err)
	}
	fail := func(step string, err error) error {
		if l, lerr := netlink.LinkByName(name); lerr == nil {
			_ = netlink.LinkDel(l)
		}
		return fmt.Errorf("sandbox network: %s: %w", step, err)
	}
	host, err := netlink.LinkByName(name)
	if err != nil {
		return fail("find "+name, err)
	}
	// IPv6 link-local on the node's side would only invite neighbours.
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1\n"), 0o644)
	if err := netlink.AddrAdd(host, &netlink.Addr{IPNet: hostNet(n.gw)}); err != nil {
		return fail("gateway address", err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fail("link up", err)
	}
	route := &netlink.Route{LinkIndex: host.Attrs().Index, Dst: hostNet(addr), Scope: netlink.SCOPE_LINK, Src: n.gw.AsSlice()}
	if err := netlink.RouteReplace(route); err != nil {
		return fail("route to sandbox", err)
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(int(nsf.Fd())))
	if err != nil {
		return fail("enter sandbox namespace", err)
	}
	defer h.Close()
	eth, err := h.LinkByName("eth0")
	if err != nil {
		return fail("find eth0", err)
	}
	if err := h.AddrAdd(eth, &netlink.Addr{IPNet: hostNet(addr)}); err != nil {
		return fail("sandbox address", err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fail("eth0 up", err)
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		_ = h.LinkSetUp(lo)
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Dst: hostNet(n.gw), Scope: netlink.SCOPE_LINK}); err != nil {
		return fail("route to gateway", err)
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: n.gw.AsSlice()}); err != nil {
		return fail("default route", err)
	}
	return nil
}

func hostNet(a netip.Addr) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}
}

// apply (re)writes the sandbox's rules for policy p, atomically.
func (n *sandboxNet) apply(ctx context.Context, slot int, p core.NetworkPolicy) error {
	script, err := n.node.Sandbox(slot, n.addr(slot), p)
	if err != nil {
		return core.WithCause(core.ErrInvalidArgument, err, "the network policy is not valid")
	}
	if err := runNFT(ctx, script); err != nil {
		return fmt.Errorf("sandbox network rules: %w", err)
	}
	n.filter.live.Store(n.addr(slot), p)
	return nil
}

// detach removes what attach and prepare made: rules, the node's link
// (gone with the sandbox's namespace, unless a process still holds it),
// the files. Before the slot is released, so no new sandbox's rules are
// removed.
func (n *sandboxNet) detach(ctx context.Context, id string, slot int, hasSlot bool) error {
	if hasSlot {
		if err := runNFT(ctx, n.node.Remove(slot)); err != nil {
			return fmt.Errorf("sandbox network rules: %w", err)
		}
		n.filter.live.Delete(n.addr(slot))
		if l, err := netlink.LinkByName(netpolicy.LinkName(slot)); err == nil {
			_ = netlink.LinkDel(l)
		}
	}
	if err := os.RemoveAll(n.sandboxDir(id)); err != nil {
		return fmt.Errorf("sandbox network files: %w", err)
	}
	return nil
}

// linkExists tells whether the node has the sandbox link of slot.
func linkExists(slot int) bool {
	_, err := netlink.LinkByName(netpolicy.LinkName(slot))
	return err == nil
}

// chains lists the slots that have a chain in the table.
func (n *sandboxNet) chains(ctx context.Context) ([]int, error) {
	out, err := nft(ctx, nil, "-j", "list", "table", "inet", n.node.Table)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Nftables []struct {
			Chain *struct {
				Name string `json:"name"`
			} `json:"chain"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("read nft table: %w", err)
	}
	var slots []int
	for _, o := range doc.Nftables {
		if o.Chain == nil {
			continue
		}
		if s, ok := netpolicy.SlotOfChain(o.Chain.Name); ok {
			slots = append(slots, s)
		}
	}
	return slots, nil
}

// runNFT runs an nft script as one transaction.
func runNFT(ctx context.Context, script string) error {
	_, err := nft(ctx, strings.NewReader(script), "-f", "-")
	return err
}

// nft runs the nft command with args and stdin, returning its output;
// a failure carries what nft said.
func nft(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "nft", args...)
	cmd.Stdin, cmd.Stderr = stdin, &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
