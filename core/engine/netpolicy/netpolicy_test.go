package netpolicy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/core"
)

var node = Node{
	Table:  "t",
	Subnet: netip.MustParsePrefix("10.213.0.0/16"),
	Allow:  []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
	Deny:   []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")},
	DNS:    []netip.Addr{netip.MustParseAddr("10.255.255.53")},
}

func rules(t *testing.T, p core.NetworkPolicy) []string {
	t.Helper()
	s, err := node.Sandbox(7, netip.MustParseAddr("10.213.0.9"), p)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if r, ok := strings.CutPrefix(l, "add rule inet t sb-7 "); ok {
			out = append(out, r)
		}
	}
	if !strings.Contains(s, `add element inet t sandboxes { "sgv7" : jump sb-7 }`+"\n") {
		t.Errorf("the interface is not pointed at its chain:\n%s", s)
	}
	return out
}

func TestSandboxRules(t *testing.T) {
	head := []string{
		"ip saddr != 10.213.0.9 drop",
		"meta nfproto ipv6 drop",
		"ip daddr { 0.0.0.0/8, 10.213.0.0/16, 127.0.0.0/8, 169.254.0.0/16, 203.0.113.0/24, 224.0.0.0/4, 240.0.0.0/4 } drop",
	}
	open := []string{
		"ip daddr { 10.255.255.53/32 } meta l4proto { tcp, udp } th dport 53 accept",
		"ip daddr { 10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12, 192.168.0.0/16, 198.18.0.0/15 } ip daddr != { 10.1.0.0/16 } drop",
		"ct state new limit rate over 200/second burst 400 packets drop",
	}
	cases := []struct {
		name string
		p    core.NetworkPolicy
		tail []string
	}{
		{"default: everything but the node's and private ranges", core.NetworkPolicy{}, append(open, "accept")},
		{"all egress denied: not even DNS", core.NetworkPolicy{DenyOut: core.AllTraffic}, []string{"drop"}},
		{"allow-list: allowOut wins over denyOut", core.NetworkPolicy{AllowOut: []string{"198.51.100.0/24", "198.51.100.7/32", "2001:db8::/32"}, DenyOut: core.AllTraffic},
			append(open, "ip daddr { 198.51.100.0/24 } accept", "ip daddr { 0.0.0.0/0 } drop", "accept")},
		{"deny-list", core.NetworkPolicy{DenyOut: []string{"198.51.100.7/32", "192.0.2.0/24"}},
			append(open, "ip daddr { 192.0.2.0/24, 198.51.100.7/32 } drop", "accept")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rules(t, c.p)
			want := append(append([]string{}, head...), c.tail...)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
	if _, err := node.Sandbox(7, netip.MustParseAddr("10.213.0.9"), core.NetworkPolicy{DenyOut: []string{"example.com"}}); err == nil {
		t.Error("a host name in denyOut was accepted")
	}
}

func TestRemoveIsIdempotentText(t *testing.T) {
	got := node.Remove(7)
	for _, want := range []string{"add chain inet t sb-7\n", "delete element inet t sandboxes { \"sgv7\" }\n", "delete chain inet t sb-7\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("Remove lacks %q:\n%s", want, got)
		}
	}
	if s, ok := SlotOfChain("sb-12"); !ok || s != 12 {
		t.Errorf("SlotOfChain(sb-12) = %d, %v", s, ok)
	}
	for _, name := range []string{"forward", "sb-", "sb-012", "sb--1", "sb-1x"} {
		if _, ok := SlotOfChain(name); ok {
			t.Errorf("SlotOfChain(%q) ok", name)
		}
	}
}

func TestHostNamesGoThroughTheFilter(t *testing.T) {
	n := node
	n.FilterPort = 4242
	p := core.NetworkPolicy{AllowOut: []string{"198.51.100.7/32"}, AllowDomains: []string{"*.example.com"}, DenyOut: core.AllTraffic}
	s, err := n.Sandbox(7, netip.MustParseAddr("10.213.0.9"), p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"add rule inet t sbn-7 ip saddr != 10.213.0.9 return\n",
		"add rule inet t sbn-7 tcp dport { 80, 443 } redirect to :4242\n",
		`add element inet t redirects { "sgv7" : jump sbn-7 }` + "\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("rules lack %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "delete chain inet t sbn-7") {
		t.Errorf("the filter's chain is removed:\n%s", s)
	}
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	for _, c := range []struct {
		dst   string
		named bool
		want  bool
	}{
		{"203.0.114.1", true, true},      // a name allowed: any public address
		{"203.0.114.1", false, false},    // no name: the address lists decide (deny all)
		{"198.51.100.7", false, true},    // allowOut address
		{"169.254.169.254", true, false}, // never, named or not
		{"10.213.0.5", true, false},      // another sandbox
		{"192.168.1.1", true, false},     // private, not opened by the operator
		{"10.1.2.3", true, true},         // private, opened by the operator
		{"203.0.113.9", true, false},     // the operator's deny list
	} {
		if got := n.Allows(a(c.dst), p, c.named); got != c.want {
			t.Errorf("Allows(%s, named %v) = %v, want %v", c.dst, c.named, got, c.want)
		}
	}
}
