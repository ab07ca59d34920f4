package core

import (
	"errors"
	"slices"
	"testing"
)

func TestHostNamesInNetworkPolicies(t *testing.T) {
	p, err := ParseNetworkPolicy(NetworkPolicy{
		AllowOut: []string{"1.2.3.4", "API.Example.COM.", "*.pypi.org", "api.example.com"},
		DenyOut:  []string{"0.0.0.0/0"},
	}, "allowOut", "denyOut")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.AllowOut, []string{"1.2.3.4/32"}) || !slices.Equal(p.AllowDomains, []string{"api.example.com", "*.pypi.org"}) {
		t.Errorf("allowOut %v, allowDomains %v", p.AllowOut, p.AllowDomains)
	}
	if !p.InternetAccess() {
		t.Error("an allow list of names is internet access")
	}
	for name, want := range map[string]bool{
		"api.example.com": true, "API.example.com.": true, "files.pypi.org": true, "a.b.pypi.org": true,
		"pypi.org": false, "example.com": false, "api.example.com.evil": false, "": false, "xpypi.org": false,
	} {
		if got := p.AllowsName(name); got != want {
			t.Errorf("AllowsName(%q) = %v, want %v", name, got, want)
		}
	}
	for _, bad := range []NetworkPolicy{
		{AllowOut: []string{"exa mple.com"}},
		{AllowOut: []string{"*"}},
		{AllowOut: []string{"-a.com"}},
		{AllowOut: []string{"a..com"}},
		{DenyOut: []string{"example.com"}},
	} {
		if _, err := ParseNetworkPolicy(bad, "allowOut", "denyOut"); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: err %v, want ErrInvalidArgument", bad, err)
		}
	}
}
