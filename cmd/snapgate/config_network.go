package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine"
)

// loadNetwork reads the sandbox network settings: nil when sandboxes get
// only loopback (SNAPGATE_SANDBOX_NETWORK=off, or off by default without
// user namespaces, which the network's addressing needs).
func loadNetwork(get func(k, def string) string, userNS bool) (*engine.NetworkOptions, error) {
	def := "on"
	if !userNS {
		def = "off"
	}
	switch v := get("SNAPGATE_SANDBOX_NETWORK", def); {
	case v == "off":
		return nil, nil
	case v != "on":
		return nil, fmt.Errorf("SNAPGATE_SANDBOX_NETWORK must be on or off, got %q", v)
	case !userNS:
		return nil, fmt.Errorf("SNAPGATE_SANDBOX_NETWORK=on needs SNAPGATE_SANDBOX_USERNS=on")
	}
	o := &engine.NetworkOptions{} // Dir: LoadConfig, once DataDir is absolute
	var err error
	if s := get("SNAPGATE_SANDBOX_SUBNET", ""); s != "" {
		if o.Subnet, err = netip.ParsePrefix(s); err != nil || !o.Subnet.Addr().Is4() || o.Subnet.Bits() > 16 {
			return nil, fmt.Errorf("SNAPGATE_SANDBOX_SUBNET must be an IPv4 prefix of /16 or wider, got %q", s)
		}
	}
	if o.Allow, err = prefixList(get("SNAPGATE_EGRESS_ALLOW", ""), "SNAPGATE_EGRESS_ALLOW"); err != nil {
		return nil, err
	}
	if o.Deny, err = prefixList(get("SNAPGATE_EGRESS_DENY", ""), "SNAPGATE_EGRESS_DENY"); err != nil {
		return nil, err
	}
	for _, s := range splitList(get("SNAPGATE_SANDBOX_DNS", "")) {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("SNAPGATE_SANDBOX_DNS: %q is not an IPv4 address", s)
		}
		o.DNS = append(o.DNS, a)
	}
	return o, nil
}

func prefixList(v, name string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range splitList(v) {
		p, err := core.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not an address or CIDR prefix", name, s)
		}
		out = append(out, p)
	}
	return out, nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
