package core_test

import (
	"testing"

	"github.com/snapgate/snapgate/core"
)

func TestSandboxDomain(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, configured, host, want string
	}{
		{"configured wins", "sandboxes.example.com", "127.0.0.1:8080", "sandboxes.example.com"},
		{"loopback v4 is localhost, port kept", "", "127.0.0.1:18181", "localhost:18181"},
		{"loopback v6", "", "[::1]:8080", "localhost:8080"},
		{"loopback without port", "", "127.0.0.1", "localhost"},
		{"a name is kept", "", "snapgate.example.com:8443", "snapgate.example.com:8443"},
		{"another address is kept", "", "10.1.2.3:8080", "10.1.2.3:8080"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := core.SandboxDomain(tc.configured, tc.host); got != tc.want {
				t.Errorf("SandboxDomain(%q, %q) = %q, want %q", tc.configured, tc.host, got, tc.want)
			}
		})
	}
}

func TestRequestHost(t *testing.T) {
	t.Parallel()
	p := core.NetworkPolicy{MaskRequestHost: "${PORT}-app.internal:${PORT}"}
	if got, want := p.RequestHost(8000), "8000-app.internal:8000"; got != want {
		t.Errorf("RequestHost = %q, want %q", got, want)
	}
	if got := (core.NetworkPolicy{}).RequestHost(8000); got != "" {
		t.Errorf("no mask: RequestHost = %q, want \"\"", got)
	}
	for mask, ok := range map[string]bool{
		"": true, "localhost": true, "app.internal:${PORT}": true, "10.0.0.1:80": true,
		"bad host": false, "héllo.com": false, "a/b": false, "x:port": false,
	} {
		if err := core.CheckRequestHostMask(mask, "maskRequestHost"); (err == nil) != ok {
			t.Errorf("CheckRequestHostMask(%q) = %v, want ok=%v", mask, err, ok)
		}
	}
}
