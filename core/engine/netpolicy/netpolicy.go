// Package netpolicy writes the node's sandbox egress rules as nftables
// commands (for `nft -f -`): the node-wide chains, once, and one chain per
// sandbox, replaced whole when its policy changes. It only makes text; the
// engine runs it.
//
// The shape: every sandbox has a routed veth of its own, named after its
// slot (LinkName). Packets a sandbox sends arrive on that interface, which
// the sandbox cannot choose, so the forward hook dispatches on the input
// interface (a verdict map) to the sandbox's chain. The node's own
// addresses are never forwarded to: they are the input hook's, which
// drops everything from a sandbox interface but answers to the node. Nothing new is forwarded to
// a sandbox; replies are. Sandboxes are masqueraded behind the node.
package netpolicy

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/snapgate/snapgate/core"
)

// LinkPrefix starts the name of every host-side sandbox interface.
const LinkPrefix = "sgv"

// LinkName is the host-side interface of the sandbox in slot.
func LinkName(slot int) string { return LinkPrefix + strconv.Itoa(slot) }

// ChainName is the chain holding the egress rules of the sandbox in slot.
func ChainName(slot int) string { return "sb-" + strconv.Itoa(slot) }

// natChainName is the chain that sends the sandbox's web connections to
// the egress filter, when its policy allows host names.
func natChainName(slot int) string { return "sbn-" + strconv.Itoa(slot) }

// FilteredPorts are the ports whose connections the egress filter judges
// by name: HTTP (Host) and TLS (SNI).
var FilteredPorts = []uint16{80, 443}

// Blocked is what no sandbox ever reaches, whatever its policy or the
// operator's allow list: "this" network, loopback, link-local (cloud
// metadata at 169.254.169.254 among it), multicast, reserved and
// broadcast. The node's own addresses and the sandbox subnet are added by
// Node.
var Blocked = prefixes("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4")

// Private is what a sandbox reaches only when the operator allows it
// (Node.Allow): the ranges private networks, Kubernetes pods and services
// and carrier-grade NAT use, and the benchmarking range.
var Private = prefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "198.18.0.0/15")

// NewConnectionRate bounds the connections a sandbox opens per second
// (burst twice that): a scanner or flood from one sandbox stays small.
const NewConnectionRate = 200

// Node is the operator's side of the policy.
type Node struct {
	Table  string       // nft table (family inet) holding everything
	Subnet netip.Prefix // the sandboxes' addresses
	// Allow opens parts of Private; Deny adds to Blocked (for every
	// sandbox, whatever its own policy).
	Allow, Deny []netip.Prefix
	// DNS are the nameservers sandboxes are given; they are reachable on
	// port 53 even in Private, unless a sandbox's egress is denied whole.
	DNS []netip.Addr
	// FilterPort is where the node's egress filter listens (on the
	// gateway address): connections to FilteredPorts of sandboxes whose
	// policy allows host names are redirected there.
	FilterPort uint16
}

// Base creates the table, its verdict map and the node-wide chains, or
// rewrites the chains to what they must be. Idempotent and atomic (one
// transaction), so every snapgate on the node may run it at start; it
// keeps the sandboxes' chains and map elements.
func (n Node) Base() string {
	t := "inet " + n.Table
	var b strings.Builder
	line := func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }
	line("add table %s", t)
	line("add map %s sandboxes { type ifname : verdict; }", t)
	line("add map %s redirects { type ifname : verdict; }", t)
	line("add chain %s prerouting { type nat hook prerouting priority dstnat; policy accept; }", t)
	line("add chain %s forward { type filter hook forward priority filter; policy accept; }", t)
	line("add chain %s input { type filter hook input priority filter; policy accept; }", t)
	line("add chain %s postrouting { type nat hook postrouting priority srcnat; policy accept; }", t)
	for _, c := range []string{"forward", "input", "postrouting", "prerouting"} {
		line("flush chain %s %s", t, c)
	}
	any := strconv.Quote(LinkPrefix + "*")
	// A sandbox interface without a chain (being set up, or its chain
	// removed) sends nothing anywhere.
	line("add rule %s forward iifname %s iifname vmap @sandboxes", t, any)
	line("add rule %s forward iifname %s drop", t, any)
	line("add rule %s forward oifname %s ct state established,related accept", t, any)
	line("add rule %s forward oifname %s drop", t, any)
	// Only answers to what the node itself opened come in from a sandbox,
	// and the connections a sandbox's own chain redirected to the egress
	// filter.
	line("add rule %s input iifname %s ct state established,related accept", t, any)
	line("add rule %s input iifname %s ct status dnat accept", t, any)
	line("add rule %s input iifname %s drop", t, any)
	line("add rule %s postrouting ip saddr %s oifname != %s masquerade", t, n.Subnet.Masked(), any)
	line("add rule %s prerouting iifname %s iifname vmap @redirects", t, any)
	return b.String()
}

// Sandbox (re)writes the chain of the sandbox in slot with address addr
// under policy p, and points its interface at it: one transaction, so a
// policy change has no moment without rules. Every packet is judged, not
// only new connections: a narrowed policy also cuts open ones.
//
// Order: a forged source address is dropped; then Blocked, the subnet
// (other sandboxes) and the operator's Deny; then, unless all egress is
// denied, DNS to the nameservers; Private unless the operator allows it;
// the connection rate; the sandbox's AllowOut (accept) and DenyOut (drop);
// everything else is accepted. Sandboxes have IPv4 only: IPv6 is dropped.
func (n Node) Sandbox(slot int, addr netip.Addr, p core.NetworkPolicy) (string, error) {
	allow, err := parseList(p.AllowOut)
	if err != nil {
		return "", fmt.Errorf("allowOut: %w", err)
	}
	deny, err := parseList(p.DenyOut)
	if err != nil {
		return "", fmt.Errorf("denyOut: %w", err)
	}
	t, chain := "inet "+n.Table, ChainName(slot)
	var b strings.Builder
	rule := func(f string, a ...any) {
		fmt.Fprintf(&b, "add rule %s %s "+f+"\n", append([]any{t, chain}, a...)...)
	}
	fmt.Fprintf(&b, "add chain %s %s\nflush chain %s %s\n", t, chain, t, chain)
	rule("ip saddr != %s drop", addr)
	rule("meta nfproto ipv6 drop")
	blocked := append(append(append([]netip.Prefix{}, Blocked...), n.Subnet.Masked()), n.Deny...)
	rule("ip daddr %s drop", set(blocked))
	if !p.InternetAccess() {
		rule("drop")
	} else {
		if len(n.DNS) > 0 {
			var ns []netip.Prefix
			for _, a := range n.DNS {
				ns = append(ns, netip.PrefixFrom(a, a.BitLen()))
			}
			rule("ip daddr %s meta l4proto { tcp, udp } th dport 53 accept", set(ns))
		}
		if opened := v4(n.Allow); len(opened) > 0 {
			rule("ip daddr %s ip daddr != %s drop", set(Private), set(opened))
		} else {
			rule("ip daddr %s drop", set(Private))
		}
		rule("ct state new limit rate over %d/second burst %d packets drop", NewConnectionRate, 2*NewConnectionRate)
		if a := v4(allow); len(a) > 0 {
			rule("ip daddr %s accept", set(a))
		}
		if d := v4(deny); len(d) > 0 {
			rule("ip daddr %s drop", set(d))
		}
		rule("accept")
	}
	fmt.Fprintf(&b, "add element %s sandboxes { %s : jump %s }\n", t, strconv.Quote(LinkName(slot)), chain)
	// Names are judged by the egress filter: the sandbox's web
	// connections go there (addresses no sandbox reaches never do).
	nat, link := natChainName(slot), strconv.Quote(LinkName(slot))
	if len(p.AllowDomains) > 0 && p.InternetAccess() && n.FilterPort != 0 {
		fmt.Fprintf(&b, "add chain %s %s\nflush chain %s %s\n", t, nat, t, nat)
		fmt.Fprintf(&b, "add rule %s %s ip saddr != %s return\n", t, nat, addr)
		fmt.Fprintf(&b, "add rule %s %s ip daddr %s return\n", t, nat, set(blocked))
		fmt.Fprintf(&b, "add rule %s %s tcp dport { %s } redirect to :%d\n", t, nat, portList(), n.FilterPort)
		fmt.Fprintf(&b, "add element %s redirects { %s : jump %s }\n", t, link, nat)
	} else {
		b.WriteString(removeNat(t, nat, link))
	}
	return b.String(), nil
}

// Allows is the decision the sandbox's chain makes for a TCP connection
// to dst, for the egress filter, which sees the connections redirected
// to it and must judge them as the chain would have: named tells that
// the connection names one of p's AllowDomains.
func (n Node) Allows(dst netip.Addr, p core.NetworkPolicy, named bool) bool {
	dst = dst.Unmap()
	if !dst.Is4() || !p.InternetAccess() {
		return false
	}
	in := func(ps []netip.Prefix) bool {
		for _, pf := range ps {
			if pf.Contains(dst) {
				return true
			}
		}
		return false
	}
	if in(Blocked) || n.Subnet.Contains(dst) || in(n.Deny) {
		return false
	}
	if in(Private) && !in(n.Allow) {
		return false
	}
	if named {
		return true
	}
	allow, _ := parseList(p.AllowOut)
	deny, _ := parseList(p.DenyOut)
	return in(allow) || !in(deny)
}

func portList() string {
	ps := make([]string, len(FilteredPorts))
	for i, p := range FilteredPorts {
		ps[i] = strconv.Itoa(int(p))
	}
	return strings.Join(ps, ", ")
}

func removeNat(t, nat, link string) string {
	return fmt.Sprintf("add chain %[1]s %[2]s\nadd element %[1]s redirects { %[3]s : jump %[2]s }\n"+
		"delete element %[1]s redirects { %[3]s }\nflush chain %[1]s %[2]s\ndelete chain %[1]s %[2]s\n", t, nat, link)
}

// Remove deletes the sandbox's chain and map element. Adding each first
// makes the deletion succeed whether or not they exist (nft 1.0.6 has no
// "destroy").
func (n Node) Remove(slot int) string {
	t, chain, link := "inet "+n.Table, ChainName(slot), strconv.Quote(LinkName(slot))
	return removeNat(t, natChainName(slot), link) + fmt.Sprintf("add chain %[1]s %[2]s\nadd element %[1]s sandboxes { %[3]s : jump %[2]s }\n"+
		"delete element %[1]s sandboxes { %[3]s }\nflush chain %[1]s %[2]s\ndelete chain %[1]s %[2]s\n", t, chain, link)
}

// SlotOfChain reads the slot out of a chain name; false for other chains.
func SlotOfChain(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "sb-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0 && strconv.Itoa(n) == s
}

func parseList(in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for _, s := range in {
		p, err := core.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func v4(in []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range in {
		if p.Addr().Is4() {
			out = append(out, p.Masked())
		}
	}
	return out
}

// set writes prefixes as an nft anonymous set. nft refuses overlapping
// intervals in one, and two prefixes either nest or are disjoint: the
// ones inside another are left out.
func set(in []netip.Prefix) string {
	ps := append([]netip.Prefix(nil), v4(in)...)
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Bits() != ps[j].Bits() {
			return ps[i].Bits() < ps[j].Bits()
		}
		return ps[i].Addr().Less(ps[j].Addr())
	})
	var keep []string
	var kept []netip.Prefix
next:
	for _, p := range ps {
		for _, k := range kept {
			if k.Contains(p.Addr()) {
				continue next
			}
		}
		kept = append(kept, p)
		keep = append(keep, p.String())
	}
	sort.Strings(keep)
	return "{ " + strings.Join(keep, ", ") + " }"
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}
