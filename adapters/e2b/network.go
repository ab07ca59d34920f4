package e2b

import (
	"github.com/snapgate/snapgate/adapters/e2b/api"
	"github.com/snapgate/snapgate/core"
)

// egress is E2B's egress fields, as create (under network, beside
// allow_internet_access) and the network update send them.
type egress struct {
	allowInternet     *bool
	allowOut, denyOut *api.EgressList
	proxy             *api.SandboxEgressProxyConfig
	rules             *api.SandboxNetworkRules
}

// policy is core's egress policy for e, its lists checked by core (host
// names of allowOut go to AllowDomains; denyOut takes none). prefix is what the
// lists' field names are written under in messages ("network." on create).
// allow_internet_access false is E2B's denyOut 0.0.0.0/0. What snapgate
// does not enforce is refused naming the field: a rule silently dropped
// would leave open what the caller closed.
func (e egress) policy(prefix string) (core.NetworkPolicy, error) {
	switch {
	case e.proxy != nil:
		return core.NetworkPolicy{}, core.Errorf(core.ErrInvalidArgument, "%segressProxy is not supported", prefix)
	case e.rules != nil && len(*e.rules) > 0:
		return core.NetworkPolicy{}, core.Errorf(core.ErrInvalidArgument, "%srules (per-domain request transforms) are not supported", prefix)
	}
	p := core.NetworkPolicy{AllowOut: deref(e.allowOut), DenyOut: deref(e.denyOut)}
	if e.allowInternet != nil && !*e.allowInternet {
		p.DenyOut = append(p.DenyOut, "0.0.0.0/0")
	}
	return core.ParseNetworkPolicy(p, prefix+"allowOut", prefix+"denyOut")
}

// createNetwork is the policy of a create: egress plus port access
// (allowPublicTraffic false makes the ports private, maskRequestHost the
// Host they are sent).
func createNetwork(allowInternet *bool, n *api.SandboxNetworkConfig) (core.NetworkPolicy, error) {
	if n == nil {
		return egress{allowInternet: allowInternet}.policy("network.")
	}
	if len(deref(n.HttpsPorts)) > 0 {
		return core.NetworkPolicy{}, core.Errorf(core.ErrInvalidArgument, "network.httpsPorts is not supported: sandbox ports are reached over plain HTTP")
	}
	mask := deref(n.MaskRequestHost)
	if err := core.CheckRequestHostMask(mask, "network.maskRequestHost"); err != nil {
		return core.NetworkPolicy{}, err
	}
	p, err := egress{allowInternet: allowInternet, allowOut: n.AllowOut, denyOut: n.DenyOut, proxy: n.EgressProxy, rules: n.Rules}.policy("network.")
	if err != nil {
		return p, err
	}
	p.PrivatePorts = n.AllowPublicTraffic != nil && !*n.AllowPublicTraffic
	p.MaskRequestHost = mask
	return p, nil
}

// networkConfig is how getInfo reports a policy (nil for none, as E2B
// reports a sandbox created without network fields).
func networkConfig(p core.NetworkPolicy) *api.SandboxNetworkConfig {
	if len(p.AllowOut) == 0 && len(p.AllowDomains) == 0 && len(p.DenyOut) == 0 && !p.PrivatePorts && p.MaskRequestHost == "" {
		return nil
	}
	public := !p.PrivatePorts
	n := &api.SandboxNetworkConfig{AllowPublicTraffic: &public}
	if allow := append(append([]string{}, p.AllowOut...), p.AllowDomains...); len(allow) > 0 {
		n.AllowOut = &allow
	}
	if len(p.DenyOut) > 0 {
		n.DenyOut = &p.DenyOut
	}
	if p.MaskRequestHost != "" {
		n.MaskRequestHost = &p.MaskRequestHost
	}
	return n
}

// trafficToken is the create/connect trafficAccessToken: only a sandbox
// with private ports has one.
func trafficToken(sb *core.Sandbox) *string {
	if !sb.Network.PrivatePorts {
		return nil
	}
	t := sb.TrafficToken()
	return &t
}
