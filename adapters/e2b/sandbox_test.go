package e2b

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var sandboxIDRE = regexp.MustCompile(`^i[a-z0-9]{20}$`)

// checkSandbox checks a create/connect/resume body: every key the SDKs
// read, and Python's required ones.
func checkSandbox(t *testing.T, e *testEnv, r reply, template string) {
	t.Helper()
	// The server is on 127.0.0.1: the domain names it localhost, under
	// which "<port>-<id>.localhost" resolves to loopback.
	host := strings.Replace(strings.TrimPrefix(e.srv.URL, "http://"), "127.0.0.1", "localhost", 1)
	want := map[string]any{"templateID": template, "clientID": "6532622b", "envdVersion": "0.5.7", "domain": host}
	for k, v := range want {
		if r.body[k] != v {
			t.Errorf("%s = %v, want %v (%s)", k, r.body[k], v, r.raw)
		}
	}
	if id, _ := r.body["sandboxID"].(string); !sandboxIDRE.MatchString(id) {
		t.Errorf("sandboxID %q is not E2B-shaped", id)
	}
	if tok, _ := r.body["envdAccessToken"].(string); tok == "" {
		t.Errorf("no envdAccessToken in %s", r.raw)
	}
}

func TestSandboxLifecycle(t *testing.T) {
	e := newTestEnv(t)
	base := e.call(t, "POST", "/v2/sandboxes", e.keyA, `{"templateID":"base"}`)
	if base.status != 201 {
		t.Fatalf("create from base: %d %s", base.status, base.raw)
	}
	checkSandbox(t, e, base, "base")

	// v1 as Python sends it, from the snapshot id.
	v1 := e.call(t, "POST", "/sandboxes", e.keyA, `{"templateID":"`+e.snapID+`","timeout":120,"metadata":{"k":"v"},"envVars":{"E":"1"},"secure":true,"allow_internet_access":true}`)
	if v1.status != 201 {
		t.Fatalf("create v1: %d %s", v1.status, v1.raw)
	}
	checkSandbox(t, e, v1, e.snapID)
	id := v1.body["sandboxID"].(string)
	token := v1.body["envdAccessToken"]

	info := e.call(t, "GET", "/sandboxes/"+id, e.keyA, "")
	if info.status != 200 || info.body["state"] != "running" || info.body["envdAccessToken"] != token {
		t.Fatalf("getInfo: %d %s", info.status, info.raw)
	}
	for _, k := range []string{"sandboxID", "templateID", "clientID", "startedAt", "endAt", "cpuCount", "memoryMB", "diskSizeMB", "envdVersion", "state", "metadata", "domain", "lifecycle"} {
		if _, ok := info.body[k]; !ok {
			t.Errorf("getInfo lacks %s: %s", k, info.raw)
		}
	}
	if m, _ := info.body["metadata"].(map[string]any); m["k"] != "v" {
		t.Errorf("metadata = %v", info.body["metadata"])
	}
	if lc, _ := info.body["lifecycle"].(map[string]any); lc["onTimeout"] != "kill" || lc["autoResume"] != false {
		t.Errorf("lifecycle = %v", info.body["lifecycle"])
	}
	if !within(t, info.body["endAt"], 120*time.Second) || !within(t, info.body["startedAt"], 0) {
		t.Errorf("startedAt %v endAt %v, want now and now+120s", info.body["startedAt"], info.body["endAt"])
	}

	steps := []struct {
		name, method, path, key, body string
		status                        int
	}{
		{"other tenant get", "GET", "/sandboxes/" + id, e.keyB, "", 404},
		{"other tenant kill", "DELETE", "/sandboxes/" + id, e.keyB, "", 404},
		{"other tenant pause", "POST", "/sandboxes/" + id + "/pause", e.keyB, "{}", 404},
		{"other tenant connect", "POST", "/v2/sandboxes/" + id + "/connect", e.keyB, "{}", 404},
		{"other tenant timeout", "POST", "/sandboxes/" + id + "/timeout", e.keyB, `{"timeout":5}`, 404},
		{"other tenant snapshot", "POST", "/sandboxes/" + id + "/snapshots", e.keyB, `{}`, 404},
		{"set timeout", "POST", "/sandboxes/" + id + "/timeout", e.keyA, `{"timeout":600}`, 204},
		{"connect running", "POST", "/v2/sandboxes/" + id + "/connect", e.keyA, `{}`, 200},
		{"resume running", "POST", "/sandboxes/" + id + "/resume", e.keyA, `{}`, 409},
		{"pause", "POST", "/sandboxes/" + id + "/pause", e.keyA, `{}`, 204},
		{"pause again", "POST", "/sandboxes/" + id + "/pause", e.keyA, ``, 409},
		{"connect paused", "POST", "/v2/sandboxes/" + id + "/connect", e.keyA, ``, 201},
		{"connect running v1", "POST", "/sandboxes/" + id + "/connect", e.keyA, `{"timeout":300}`, 200},
		{"pause for resume", "POST", "/sandboxes/" + id + "/pause", e.keyA, `{"memory":true}`, 204},
		{"connect paused v1", "POST", "/sandboxes/" + id + "/connect", e.keyA, `{"timeout":60}`, 201},
		{"pause for deprecated resume", "POST", "/sandboxes/" + id + "/pause", e.keyA, ``, 204},
		{"deprecated resume", "POST", "/sandboxes/" + id + "/resume", e.keyA, `{"timeout":60}`, 201},
		{"kill", "DELETE", "/sandboxes/" + id, e.keyA, "", 204},
		{"kill again", "DELETE", "/sandboxes/" + id, e.keyA, "", 404},
		{"get killed", "GET", "/sandboxes/" + id, e.keyA, "", 404},
		{"connect killed", "POST", "/v2/sandboxes/" + id + "/connect", e.keyA, "{}", 404},
		{"pause killed", "POST", "/sandboxes/" + id + "/pause", e.keyA, "{}", 404},
		{"timeout killed", "POST", "/sandboxes/" + id + "/timeout", e.keyA, `{"timeout":5}`, 404},
	}
	for _, s := range steps {
		r := e.call(t, s.method, s.path, s.key, s.body)
		if r.status != s.status {
			t.Fatalf("%s: %d, want %d (%s)", s.name, r.status, s.status, r.raw)
		}
		switch {
		case s.status >= 400:
			errorOf(t, r)
		case s.status == 204:
			if len(r.raw) != 0 {
				t.Errorf("%s: 204 with body %s", s.name, r.raw)
			}
		default:
			checkSandbox(t, e, r, e.snapID)
			if r.body["sandboxID"] != id || r.body["envdAccessToken"] != token {
				t.Errorf("%s: sandbox or token changed: %s", s.name, r.raw)
			}
		}
		if s.name == "set timeout" {
			if got := e.call(t, "GET", "/sandboxes/"+id, e.keyA, ""); !within(t, got.body["endAt"], 600*time.Second) {
				t.Errorf("endAt after setTimeout(600) = %v", got.body["endAt"])
			}
		}
		if s.name == "pause" {
			if got := e.call(t, "GET", "/sandboxes/"+id, e.keyA, ""); got.body["state"] != "paused" {
				t.Errorf("state after pause = %v", got.body["state"])
			}
		}
	}
}

func TestCreateOptions(t *testing.T) {
	e := newTestEnv(t)
	id := e.create(t, `{"templateID":"img","autoPause":true,"autoPauseMemory":true,"autoResume":{"enabled":false},"network":{},"mcp":null,"volumeMounts":[]}`)
	info := e.call(t, "GET", "/sandboxes/"+id, e.keyA, "")
	if lc, _ := info.body["lifecycle"].(map[string]any); lc["onTimeout"] != "pause" {
		t.Errorf("autoPause: lifecycle = %v", info.body["lifecycle"])
	}
	// Python sends every optional field; unset ones may arrive as null.
	if r := e.call(t, "POST", "/sandboxes", e.keyA, `{"templateID":"img","timeout":300,"secure":true,"allow_internet_access":true,"metadata":{},"envVars":{},"network":null,"iam":null,"mcp":null,"volumeMounts":null,"autoResume":null}`); r.status != 201 {
		t.Errorf("python-style create: %d %s", r.status, r.raw)
	}
	// v2 defaults to 300 s, v1 to 15 s.
	if !within(t, info.body["endAt"], 300*time.Second) {
		t.Errorf("v2 default endAt %v, want now+300s", info.body["endAt"])
	}
	v1 := e.call(t, "POST", "/sandboxes", e.keyA, `{"templateID":"img"}`)
	got := e.call(t, "GET", "/sandboxes/"+v1.body["sandboxID"].(string), e.keyA, "")
	if !within(t, got.body["endAt"], 15*time.Second) {
		t.Errorf("v1 default endAt %v, want now+15s", got.body["endAt"])
	}
	// Every way of naming a snapshot; the default snapshot by "base".
	for _, ref := range []string{e.snapID, e.snapID + ":default", "img", "IMG", "img:latest", "tenant-a/img", "tenant-a/img:latest", "base", "base:default"} {
		r := e.call(t, "POST", "/v2/sandboxes", e.keyA, `{"templateID":"`+ref+`"}`)
		if r.status != 201 || r.body["templateID"] != ref {
			t.Errorf("create from %q: %d %s", ref, r.status, r.raw)
		}
	}
	for _, ref := range []string{e.snapID, "img", "tenant-b/img"} {
		if r := e.call(t, "POST", "/v2/sandboxes", e.keyB, `{"templateID":"`+ref+`"}`); r.status != 404 {
			t.Errorf("tenant B create from A's %q: %d, want 404", ref, r.status)
		}
	}
}

// metadataQuery encodes a metadata filter as the JS SDK does: each key and
// value through encodeURIComponent, the pairs through URLSearchParams, and
// the whole string encoded again as the query value.
func metadataQuery(m map[string]string) string {
	component := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	form := url.Values{}
	for k, v := range m {
		form.Set(component(k), component(v))
	}
	return "metadata=" + url.QueryEscape(form.Encode())
}

func TestListSandboxes(t *testing.T) {
	e := newTestEnv(t)
	var ids []string
	for i := range 5 {
		team := "red"
		if i%2 == 1 {
			team = "blue & green=ok"
		}
		ids = append(ids, e.create(t, `{"templateID":"img","metadata":{"team":"`+team+`","n":"`+string(rune('0'+i))+`"}}`))
	}
	e.create(t, `{"templateID":"img"}`) // no metadata
	other := e.call(t, "POST", "/v2/sandboxes", e.keyB, `{"templateID":"base","metadata":{"team":"red"}}`)
	if other.status != 201 {
		t.Fatalf("tenant B create: %d %s", other.status, other.raw)
	}
	if r := e.call(t, "POST", "/sandboxes/"+ids[0]+"/pause", e.keyA, "{}"); r.status != 204 {
		t.Fatalf("pause: %d", r.status)
	}

	// Pages of two, newest first, by X-Next-Token; only tenant A's.
	var seen []string
	token := ""
	for page := 0; ; page++ {
		path := "/v2/sandboxes?limit=2"
		if token != "" {
			path += "&nextToken=" + url.QueryEscape(token)
		}
		r := e.call(t, "GET", path, e.keyA, "")
		if r.status != 200 || len(r.list) > 2 {
			t.Fatalf("page %d: %d %s", page, r.status, r.raw)
		}
		for _, it := range r.list {
			m := it.(map[string]any)
			for _, k := range []string{"sandboxID", "templateID", "clientID", "startedAt", "endAt", "cpuCount", "memoryMB", "diskSizeMB", "envdVersion", "state", "metadata"} {
				if _, ok := m[k]; !ok {
					t.Errorf("listed sandbox lacks %s: %v", k, m)
				}
			}
			seen = append(seen, m["sandboxID"].(string))
		}
		token = r.header.Get("X-Next-Token")
		if token == "" {
			if page != 2 {
				t.Errorf("last page is %d, want 2", page)
			}
			break
		}
		if page > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if len(seen) != 6 || seen[1] != ids[4] || seen[5] != ids[0] {
		t.Errorf("listed %v, want 6 newest first ending with %s", seen, ids[0])
	}

	cases := []struct {
		name, query string
		want        []string
	}{
		{"paused", "state=paused", []string{ids[0]}},
		{"running and paused", "state=running,paused&limit=100", append([]string{seen[0]}, ids[4], ids[3], ids[2], ids[1], ids[0])},
		{"metadata", metadataQuery(map[string]string{"team": "red"}), []string{ids[4], ids[2], ids[0]}},
		{"metadata with reserved characters", metadataQuery(map[string]string{"team": "blue & green=ok"}), []string{ids[3], ids[1]}},
		{"two pairs", metadataQuery(map[string]string{"team": "red", "n": "2"}), []string{ids[2]}},
		{"metadata and state", metadataQuery(map[string]string{"team": "red"}) + "&state=running", []string{ids[4], ids[2]}},
		{"no match", metadataQuery(map[string]string{"team": "none"}), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(t, "GET", "/v2/sandboxes?"+tc.query, e.keyA, "")
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			var got []string
			for _, it := range r.list {
				got = append(got, it.(map[string]any)["sandboxID"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if r.list == nil {
				t.Errorf("body %s is not an array", r.raw)
			}
		})
	}
	if r := e.call(t, "GET", "/v2/sandboxes?state=paused", e.keyA, ""); r.list[0].(map[string]any)["state"] != "paused" {
		t.Errorf("paused sandbox listed as %v", r.list[0])
	}
}

func TestSandboxTokenRoundTrip(t *testing.T) {
	at := time.Date(2026, 9, 1, 12, 0, 0, 123456000, time.UTC)
	tok := encodeSandboxToken(at, "iabc")
	got, id, err := decodeSandboxToken(tok)
	if err != nil || !got.Equal(at) || id != "iabc" {
		t.Errorf("decode(encode) = %v %q %v", got, id, err)
	}
	for _, bad := range []string{"!!", "bm9zZXA", encodeSandboxToken(at, "")} {
		if _, _, err := decodeSandboxToken(bad); err == nil {
			t.Errorf("decode(%q) succeeded", bad)
		}
	}
}

func TestParseMetadataQuery(t *testing.T) {
	cases := []struct {
		raw  string // as gin hands it over (outer encoding undone)
		want map[string]string
		ok   bool
	}{
		{"a=b%2520c", map[string]string{"a": "b c"}, true}, // JS {a: "b c"}
		{"a=b&c=d", map[string]string{"a": "b", "c": "d"}, true},
		{"k%2526=v%253D", map[string]string{"k&": "v="}, true},
		{"", nil, true},
		{"novalue", nil, false},
		{"a=%zz", nil, false},
	}
	for _, tc := range cases {
		got, err := parseMetadataQuery(tc.raw)
		if (err == nil) != tc.ok || len(got) != len(tc.want) {
			t.Errorf("parse(%q) = %v, %v", tc.raw, got, err)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("parse(%q)[%q] = %q, want %q", tc.raw, k, got[k], v)
			}
		}
	}
}

// Sandbox.create({mcp}) sends templateID "mcp-gateway" (the SDK's default
// for mcp) with the mcp object: the answer is the 400 naming mcp, with
// E2B's {code, message} body, not a 404 for a template no one built, and
// no sandbox is left behind on either create route.
func TestCreateWithMCPIsRefusedBeforeTheTemplate(t *testing.T) {
	e := newTestEnv(t)
	for _, path := range []string{"/v2/sandboxes", "/sandboxes"} {
		for _, body := range []string{
			`{"templateID":"mcp-gateway","mcp":{"exa":{"apiKey":"k"}}}`,
			`{"templateID":"img","mcp":{}}`,
		} {
			r := e.call(t, "POST", path, e.keyA, body)
			wantRefused(t, r, 400, "mcp is not supported")
			if r.body["code"] != float64(400) {
				t.Errorf("POST %s %s: body %s, want code 400", path, body, r.raw)
			}
		}
	}
	if ids, _ := e.listed(t, ""); len(ids) != 0 {
		t.Errorf("sandboxes after refused creates: %v", ids)
	}
}
