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
	if !strings.HasSuffix(strings.TrimSpace(s), `add element inet t sandboxes { "sgv7" : jump sb-7 }`) {
		t.Errorf("the interface is not pointed at its chain last:\n%s", s)
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
