package main

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConfigNetwork(t *testing.T) {
	dir := t.TempDir()
	c, err := LoadConfig(env(map[string]string{"SNAPGATE_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Network == nil || c.Network.Dir != filepath.Join(dir, "net") || c.Network.Subnet.IsValid() {
		t.Fatalf("default network = %+v, want on, files under the data dir, the engine's default subnet", c.Network)
	}
	c, err = LoadConfig(env(map[string]string{
		"SNAPGATE_DATA_DIR": dir, "SNAPGATE_SANDBOX_SUBNET": "10.50.0.0/16",
		"SNAPGATE_EGRESS_ALLOW": "10.1.2.3, 192.168.0.0/24", "SNAPGATE_EGRESS_DENY": "192.0.2.0/24",
		"SNAPGATE_SANDBOX_DNS": "10.0.0.53",
	}))
	if err != nil {
		t.Fatal(err)
	}
	n := c.Network
	if n.Subnet != netip.MustParsePrefix("10.50.0.0/16") || len(n.Allow) != 2 || n.Allow[0] != netip.MustParsePrefix("10.1.2.3/32") ||
		len(n.Deny) != 1 || len(n.DNS) != 1 || n.DNS[0] != netip.MustParseAddr("10.0.0.53") {
		t.Errorf("network = %+v", n)
	}
	if c, err := LoadConfig(env(map[string]string{"SNAPGATE_SANDBOX_USERNS": "off"})); err != nil || c.Network != nil {
		t.Errorf("without user namespaces: network %+v, %v; want off", c.Network, err)
	}
	for name, bad := range map[string]map[string]string{
		"SNAPGATE_SANDBOX_NETWORK":         {"SNAPGATE_SANDBOX_NETWORK": "yes"},
		"needs SNAPGATE_SANDBOX_USERNS=on": {"SNAPGATE_SANDBOX_NETWORK": "on", "SNAPGATE_SANDBOX_USERNS": "off"},
		"SNAPGATE_SANDBOX_SUBNET":          {"SNAPGATE_SANDBOX_SUBNET": "10.50.0.0/24"},
		"SNAPGATE_EGRESS_ALLOW":            {"SNAPGATE_EGRESS_ALLOW": "mirror.internal"},
		"SNAPGATE_SANDBOX_DNS":             {"SNAPGATE_SANDBOX_DNS": "fd00::53"},
	} {
		if _, err := LoadConfig(env(bad)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: err = %v, want one naming %s", bad, err, name)
		}
	}
}
