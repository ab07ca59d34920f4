package core

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
)

// NetworkPolicy is what a sandbox may reach and who may reach its ports.
// It is kept with the sandbox (store) and given to the engine, which
// enforces the egress part on the node (engine/netpolicy); the port proxy
// enforces the inbound part.
//
// Egress: the node's operator policy comes first and the sandbox's cannot
// widen it past what the operator forbids outright (the node itself,
// metadata, other sandboxes); within it, an address is allowed when it is
// in AllowOut, else denied when it is in DenyOut, else allowed (E2B's
// precedence: allowOut wins over denyOut, so denyOut ["0.0.0.0/0"] with an
// allowOut list is an allow-list).
type NetworkPolicy struct {
	// AllowOut and DenyOut are CIDR prefixes (a bare address is its /32
	// or /128), canonical (masked) after ParseNetworkPolicy.
	AllowOut []string `json:"allowOut,omitempty"`
	DenyOut  []string `json:"denyOut,omitempty"`
	// AllowDomains are the host names of the allow list (lowercase, no
	// trailing dot; "*.example.com" is every name under example.com, not
	// example.com itself). A TCP connection to port 80 or 443 whose HTTP
	// Host or TLS server name (SNI) is one of them is allowed as an
	// AllowOut address would be: the node's egress filter reads the name
	// the client sends (engine/netpolicy), as E2B's does.
	AllowDomains []string `json:"allowDomains,omitempty"`
	// PrivatePorts: the sandbox's ports (all but the dataplane's) answer
	// only requests carrying its traffic token (E2B allowPublicTraffic:
	// false).
	PrivatePorts bool `json:"privatePorts,omitempty"`
	// MaskRequestHost replaces the Host of requests proxied to the
	// sandbox's ports; "${PORT}" in it becomes the port (E2B).
	MaskRequestHost string `json:"maskRequestHost,omitempty"`
}

// AllTraffic is the prefix set covering every address: DenyOut holding it
// (alone or as 0.0.0.0/0 and ::/0) denies all egress but AllowOut.
var AllTraffic = []string{"0.0.0.0/0", "::/0"}

// DenyAllEgress reports whether p denies every address not in AllowOut.
func (p NetworkPolicy) DenyAllEgress() bool {
	var v4, v6 bool
	for _, d := range p.DenyOut {
		v4 = v4 || d == "0.0.0.0/0"
		v6 = v6 || d == "::/0"
	}
	return v4 && v6
}

// InternetAccess is E2B's allowInternetAccess as reported for p: false
// when all egress is denied and nothing allowed.
func (p NetworkPolicy) InternetAccess() bool {
	return !(p.DenyAllEgress() && len(p.AllowOut) == 0 && len(p.AllowDomains) == 0)
}

// AllowsName reports whether host (a Host header's or SNI's name) is one
// of p's AllowDomains.
func (p NetworkPolicy) AllowsName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return false
	}
	for _, d := range p.AllowDomains {
		if parent, ok := strings.CutPrefix(d, "*."); ok {
			if strings.HasSuffix(host, "."+parent) {
				return true
			}
		} else if host == d {
			return true
		}
	}
	return false
}

// ParseDomain reads a host name of an allow list: labels of letters,
// digits and hyphens, optionally "*." first; lowercase, no trailing dot.
func ParseDomain(s string) (string, bool) {
	s = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	name := strings.TrimPrefix(s, "*.")
	if name == "" || len(name) > 253 {
		return "", false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return "", false
			}
		}
	}
	return s, true
}

// ParseNetworkPolicy checks and canonicalizes the address lists of p.
// field names the lists in messages (a vendor's field names). Host names
// in the allow list move to AllowDomains; an entry that is neither an
// address, a CIDR prefix nor (in the allow list) a host name is
// ErrInvalidArgument naming it: an ignored entry would leave open what
// the caller closed. A deny list takes no host names: a name is known
// only to connections that send it, so denying one would not close the
// addresses behind it.
func ParseNetworkPolicy(p NetworkPolicy, allowField, denyField string) (NetworkPolicy, error) {
	var addrs []string
	for _, s := range p.AllowOut {
		if _, err := ParsePrefix(s); err == nil {
			addrs = append(addrs, s)
			continue
		}
		d, ok := ParseDomain(s)
		if !ok {
			return p, Errorf(ErrInvalidArgument, "%s: %q is not an IP address, CIDR range or host name", allowField, s)
		}
		if !contains(p.AllowDomains, d) {
			p.AllowDomains = append(p.AllowDomains, d)
		}
	}
	var err error
	if p.AllowOut, err = parsePrefixes(addrs, allowField); err != nil {
		return p, err
	}
	if p.DenyOut, err = parsePrefixes(p.DenyOut, denyField); err != nil {
		return p, err
	}
	// 0.0.0.0/0 alone means "everything" to the vendors' users, IPv6
	// included: a sandbox told "no egress" must not get out over v6.
	for _, d := range p.DenyOut {
		if d == "0.0.0.0/0" && !contains(p.DenyOut, "::/0") {
			p.DenyOut = append(p.DenyOut, "::/0")
		}
	}
	return p, nil
}

func parsePrefixes(in []string, field string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		pf, err := ParsePrefix(s)
		if err != nil {
			return nil, Errorf(ErrInvalidArgument, "%s: %q is not an IP address or CIDR range (host names are only supported in the allow list)", field, s)
		}
		if c := pf.String(); !contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// ParsePrefix reads "a.b.c.d", "a.b.c.d/n" or their IPv6 forms as a masked
// prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()).Masked(), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TrafficToken is the token requests to a sandbox's private ports carry
// (E2B trafficAccessToken). It is derived from the access token, so it
// needs no column of its own and stays the same across pause and resume,
// while it reveals nothing of the access token it came from.
func (s *Sandbox) TrafficToken() string {
	if s.AccessToken == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("snapgate traffic token\x00" + s.AccessToken))
	return hex.EncodeToString(sum[:20])
}
