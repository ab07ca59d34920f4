package e2b

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/core"
)

// engineNetwork is the policy the fake engine holds for sandbox id.
func (e *testEnv) engineNetwork(t *testing.T, id string) core.NetworkPolicy {
	t.Helper()
	p, ok := e.env.Engine.Network(id)
	if !ok {
		t.Fatalf("the engine holds no network policy for %s", id)
	}
	return p
}

var denyAll = []string{"0.0.0.0/0", "::/0"}

// createNetworkRows are the network rows of both creates.
func createNetworkRows(path string) opFields {
	return opFields{
		"allow_internet_access": {
			honoured: "false: the engine denies all egress (0.0.0.0/0 and ::/0) but allowOut; getInfo reports it",
			check: func(t *testing.T, e *testEnv) {
				id := created(t, e, path, `,"allow_internet_access":false`)
				if got := e.engineNetwork(t, id); !cmp.Equal(got.DenyOut, denyAll) {
					t.Errorf("engine denyOut = %v, want %v", got.DenyOut, denyAll)
				}
				if v := e.info(t, id)["allowInternetAccess"]; v != false {
					t.Errorf("allowInternetAccess = %v, want false", v)
				}
				open := created(t, e, path, `,"allow_internet_access":true`)
				if v := e.info(t, open)["allowInternetAccess"]; v != true {
					t.Errorf("allow_internet_access true: allowInternetAccess = %v", v)
				}
			},
		},
		"network": {
			honoured: "allowOut/denyOut (addresses, CIDRs) to the engine; allowPublicTraffic false: private ports, trafficAccessToken returned; maskRequestHost kept; all in getInfo",
			refused:  "host names in denyOut, egressProxy, rules, httpsPorts, a bad maskRequestHost: 400 naming the field",
			check: func(t *testing.T, e *testEnv) {
				created(t, e, path, `,"network":{}`)
				created(t, e, path, `,"network":null`)
				r := createWith(t, e, path, `,"network":{"allowOut":["10.0.0.1","192.168.1.7/16"],"denyOut":["0.0.0.0/0"],"allowPublicTraffic":false,"maskRequestHost":"app:${PORT}"}`)
				wantStatus(t, r, 201)
				id := r.body["sandboxID"].(string)
				if tok, _ := r.body["trafficAccessToken"].(string); tok == "" {
					t.Errorf("no trafficAccessToken in %s", r.raw)
				}
				want := core.NetworkPolicy{AllowOut: []string{"10.0.0.1/32", "192.168.0.0/16"}, DenyOut: denyAll, PrivatePorts: true, MaskRequestHost: "app:${PORT}"}
				if got := e.engineNetwork(t, id); !cmp.Equal(got, want) {
					t.Errorf("engine policy: %s", cmp.Diff(want, got))
				}
				info := e.info(t, id)
				wantInfo := map[string]any{"allowOut": []any{"10.0.0.1/32", "192.168.0.0/16"}, "denyOut": []any{"0.0.0.0/0", "::/0"},
					"allowPublicTraffic": false, "maskRequestHost": "app:${PORT}"}
				if !cmp.Equal(info["network"], wantInfo) || info["allowInternetAccess"] != true {
					t.Errorf("getInfo network %v allowInternetAccess %v, want %v and true", info["network"], info["allowInternetAccess"], wantInfo)
				}
				if r := createWith(t, e, path, ""); r.body["trafficAccessToken"] != nil {
					t.Errorf("public ports: trafficAccessToken %v", r.body["trafficAccessToken"])
				}
				for field, body := range map[string]string{
					"network.allowOut":        `{"allowOut":["-bad-.example"]}`,
					"network.denyOut":         `{"denyOut":["example.com"]}`,
					"network.egressProxy":     `{"egressProxy":{"address":"proxy:1080"}}`,
					"network.rules":           `{"rules":{"api.example.com":[{"transform":{"headers":{"a":"b"}}}]}}`,
					"network.httpsPorts":      `{"httpsPorts":[8443]}`,
					"network.maskRequestHost": `{"maskRequestHost":"a b"}`,
				} {
					wantRefused(t, createWith(t, e, path, `,"network":`+body), 400, field)
				}
			},
		},
	}
}

// networkUpdateFields are the rows of PUT /sandboxes/{id}/network.
func networkUpdateFields() opFields {
	put := func(t *testing.T, e *testEnv, id, body string) reply {
		t.Helper()
		return e.call(t, "PUT", "/sandboxes/"+id+"/network", e.keyA, body)
	}
	return opFields{
		"allow_internet_access": onSandbox("false: all egress denied but allowOut, at the engine", "", func(t *testing.T, e *testEnv, id string) {
			wantStatus(t, put(t, e, id, `{"allow_internet_access":false}`), 204)
			if got := e.engineNetwork(t, id); !cmp.Equal(got.DenyOut, denyAll) {
				t.Errorf("denyOut = %v, want %v", got.DenyOut, denyAll)
			}
		}),
		"allowOut": onSandbox("replaces the allow list at the engine (host names as AllowDomains); omitted clears it", "neither address nor host name: 400 naming allowOut", func(t *testing.T, e *testEnv, id string) {
			wantStatus(t, put(t, e, id, `{"allowOut":["1.1.1.1","API.Example.com.","*.pypi.org"],"denyOut":["0.0.0.0/0"]}`), 204)
			if got := e.engineNetwork(t, id); !cmp.Equal(got.AllowOut, []string{"1.1.1.1/32"}) || !cmp.Equal(got.AllowDomains, []string{"api.example.com", "*.pypi.org"}) {
				t.Errorf("allowOut = %v, allowDomains = %v", got.AllowOut, got.AllowDomains)
			}
			if info := e.info(t, id); !cmp.Equal(info["network"].(map[string]any)["allowOut"], []any{"1.1.1.1/32", "api.example.com", "*.pypi.org"}) {
				t.Errorf("getInfo network.allowOut = %v", info["network"])
			}
			wantStatus(t, put(t, e, id, `{}`), 204)
			if got := e.engineNetwork(t, id); len(got.AllowOut)+len(got.DenyOut) != 0 {
				t.Errorf("after {}: %+v, want no lists", got)
			}
			wantRefused(t, put(t, e, id, `{"allowOut":["exa_mple.com"]}`), 400, "allowOut")
		}),
		"denyOut": onSandbox("replaces the deny list at the engine", "not an address: 400 naming denyOut", func(t *testing.T, e *testEnv, id string) {
			wantStatus(t, put(t, e, id, `{"denyOut":["10.0.0.0/8"]}`), 204)
			if got := e.engineNetwork(t, id); !cmp.Equal(got.DenyOut, []string{"10.0.0.0/8"}) {
				t.Errorf("denyOut = %v", got.DenyOut)
			}
			wantRefused(t, put(t, e, id, `{"denyOut":["nope"]}`), 400, "denyOut")
		}),
		"egressProxy": onSandbox("", "400 naming egressProxy", func(t *testing.T, e *testEnv, id string) {
			wantRefused(t, put(t, e, id, `{"egressProxy":{"address":"proxy:1080"}}`), 400, "egressProxy")
		}),
		"rules": onSandbox("", "400 naming rules", func(t *testing.T, e *testEnv, id string) {
			wantRefused(t, put(t, e, id, `{"rules":{"a.com":[{}]}}`), 400, "rules")
		}),
		"*": unknownField("PUT", "/sandboxes/{id}/network", `{}`),
	}
}

// Port access set at create survives a network update; another tenant's
// sandbox is 404.
func TestUpdateNetworkKeepsPortAccess(t *testing.T) {
	e := newTestEnv(t)
	id := created(t, e, "/v2/sandboxes", `,"network":{"allowPublicTraffic":false,"maskRequestHost":"h"}`)
	wantStatus(t, e.call(t, "PUT", "/sandboxes/"+id+"/network", e.keyA, `{"denyOut":["0.0.0.0/0"]}`), 204)
	if got := e.engineNetwork(t, id); !got.PrivatePorts || got.MaskRequestHost != "h" || !cmp.Equal(got.DenyOut, denyAll) {
		t.Errorf("engine policy after update: %+v", got)
	}
	if r := e.call(t, "PUT", "/sandboxes/"+id+"/network", e.keyB, `{}`); r.status != 404 {
		t.Errorf("tenant B: %d %s, want 404", r.status, r.raw)
	}
}
