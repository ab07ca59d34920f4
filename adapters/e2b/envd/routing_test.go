package envd

import (
	"github.com/snapgate/snapgate/core"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestRoutingAndAuth(t *testing.T) {
	h := newHarness(t)
	noID := map[string]string{"E2b-Sandbox-Id": ""}
	cases := []struct {
		name   string
		send   func() reply
		status int
		inBody string
	}{
		{"health", func() reply { return h.do(t, "GET", "/health", "", nil, nil) }, 204, ""},
		{"health needs no token", func() reply { return h.do(t, "GET", "/health", "", nil, map[string]string{"X-Access-Token": ""}) }, 204, ""},
		{"health of an unknown sandbox", func() reply {
			return h.do(t, "GET", "/health", "", nil, map[string]string{"E2b-Sandbox-Id": "inope"})
		}, 502, `"code":502`},
		{"health without a sandbox", func() reply { return h.do(t, "GET", "/health", "", nil, noID) }, 400, "E2b-Sandbox-Id"},
		{"files without a sandbox", func() reply { return h.do(t, "GET", "/files?path=/etc/passwd", "", nil, noID) }, 400, "E2b-Sandbox-Id"},
		{"rpc without a sandbox", func() reply { return h.unary(t, "process.Process/List", "{}", noID) }, 400, `"code":"invalid_argument"`},
		{"host routing", func() reply {
			return h.do(t, "GET", "/files?path=/etc/group", "", nil, map[string]string{"E2b-Sandbox-Id": "", "Host": "49983-" + h.id + ".snapgate.test"})
		}, 200, "user:x:1000"},
		{"another port", func() reply {
			return h.do(t, "GET", "/health", "", nil, map[string]string{"E2b-Sandbox-Port": "3000"})
		}, 502, "only envd"},
		{"files of an unknown sandbox", func() reply {
			return h.do(t, "GET", "/files?path=/etc/passwd", "", nil, map[string]string{"E2b-Sandbox-Id": "inope"})
		}, 502, "not running"},
		{"rpc of an unknown sandbox", func() reply {
			return h.unary(t, "filesystem.Filesystem/Stat", `{"path":"/"}`, map[string]string{"E2b-Sandbox-Id": "inope"})
		}, 502, `"code":502`},
		{"files without token", func() reply {
			return h.do(t, "GET", "/files?path=/etc/passwd", "", nil, map[string]string{"X-Access-Token": ""})
		}, 401, `"code":401`},
		{"files with a wrong token", func() reply {
			return h.do(t, "GET", "/files?path=/etc/passwd", "", nil, map[string]string{"X-Access-Token": "nope"})
		}, 401, `"code":401`},
		{"bad signature", func() reply {
			return h.do(t, "GET", "/files?path=/etc/passwd&signature=v1_abc", "", nil, map[string]string{"X-Access-Token": ""})
		}, 401, "invalid signature"},
		{"signed download", func() reply {
			sig := core.SignFile(core.FileSignature{Path: "/etc/group", Operation: "read"}, h.token)
			return h.do(t, "GET", "/files?path=/etc/group&signature="+url.QueryEscape(sig), "", nil, map[string]string{"X-Access-Token": ""})
		}, 200, "user:x:1000"},
		{"signature for another path", func() reply {
			sig := core.SignFile(core.FileSignature{Path: "/etc/group", Operation: "read"}, h.token)
			return h.do(t, "GET", "/files?path=/etc/passwd&signature="+url.QueryEscape(sig), "", nil, map[string]string{"X-Access-Token": ""})
		}, 401, "invalid signature"},
		{"expired signature", func() reply {
			sig := core.SignFile(core.FileSignature{Path: "/etc/group", Operation: "read", Expires: 1}, h.token)
			return h.do(t, "GET", "/files?path=/etc/group&signature_expiration=1&signature="+url.QueryEscape(sig), "", nil, map[string]string{"X-Access-Token": ""})
		}, 401, "expired"},
		{"signed download naming no sandbox (E2B_SANDBOX_URL)", func() reply {
			sig := core.SignFile(core.FileSignature{Path: "/etc/group", Operation: "read"}, h.token)
			return h.do(t, "GET", "/files?path=/etc/group&signature="+url.QueryEscape(sig), "", nil, map[string]string{"X-Access-Token": "", "E2b-Sandbox-Id": ""})
		}, 200, "user:x:1000"},
		{"signature of no sandbox, naming none", func() reply {
			sig := core.SignFile(core.FileSignature{Path: "/etc/group", Operation: "read"}, "another token")
			return h.do(t, "GET", "/files?path=/etc/group&signature="+url.QueryEscape(sig), "", nil, map[string]string{"X-Access-Token": "", "E2b-Sandbox-Id": ""})
		}, 401, `"message":"invalid signature"`},
		{"expired signature naming no sandbox", func() reply {
			sig := core.SignFile(core.FileSignature{Path: "/etc/group", Operation: "read", Expires: 1}, h.token)
			return h.do(t, "GET", "/files?path=/etc/group&signature_expiration=1&signature="+url.QueryEscape(sig), "", nil, map[string]string{"X-Access-Token": "", "E2b-Sandbox-Id": ""})
		}, 401, `{"code":401,"message":"signature is already expired"}`},
		{"rpc with a wrong token", func() reply {
			return h.unary(t, "process.Process/List", "{}", map[string]string{"X-Access-Token": "nope"})
		}, 401, `"code":401`},
		{"unknown user", func() reply {
			return h.unary(t, "filesystem.Filesystem/Stat", `{"path":"/"}`, map[string]string{"Authorization": "Basic bm9ib2R5Og=="})
		}, 401, `"code":"unauthenticated"`},
		{"root user", func() reply {
			return h.unary(t, "filesystem.Filesystem/Stat", `{"path":"~"}`, map[string]string{"Authorization": "Basic cm9vdDo="})
		}, 200, `"path":"/root"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.send()
			if r.status != tc.status || !strings.Contains(string(r.raw), tc.inBody) {
				t.Errorf("got %d %s, want %d with %q", r.status, r.raw, tc.status, tc.inBody)
			}
		})
	}
}

// A stream refused for its token gets envd's auth middleware's plain 401,
// as every route does (envd checks the token before any protocol), not a
// 200 whose end-stream carries the error; a sandbox that is not running
// is the gateway's plain 502.
func TestStreamAuth(t *testing.T) {
	h := newHarness(t)
	c := h.stream(t, "process.Process/Start", `{"process":{"cmd":"/bin/sh","args":["-c","true"]}}`, map[string]string{"X-Access-Token": "nope"})
	body, _ := io.ReadAll(c.body)
	if c.status != http.StatusUnauthorized || !strings.Contains(string(body), `"code":401`) {
		t.Errorf("wrong token: %d %s, want 401", c.status, body)
	}
	c = h.stream(t, "process.Process/Start", `{"process":{"cmd":"/bin/sh"}}`, map[string]string{"E2b-Sandbox-Id": "inope"})
	if c.status != http.StatusBadGateway {
		t.Errorf("unknown sandbox: %d, want 502", c.status)
	}
}

func TestValidation(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name, method, body string
		inMsg              string
	}{
		{"depth not a number", "filesystem.Filesystem/ListDir", `{"path":"/","depth":"x"}`, "depth"},
		{"move without destination", "filesystem.Filesystem/Move", `{"source":"/a"}`, "destination"},
		{"bad signal", "process.Process/SendSignal", `{"process":{"pid":1},"signal":"SIGNAL_SIGHUP"}`, "signal"},
		{"pid negative", "process.Process/CloseStdin", `{"process":{"pid":-1}}`, "pid"},
		{"stdin not base64", "process.Process/SendInput", `{"process":{"pid":1},"input":{"stdin":"%%"}}`, "stdin"},
		{"not json", "filesystem.Filesystem/Stat", `{"path":`, "unmarshal message"},
		{"unknown field", "filesystem.Filesystem/Stat", `{"path":"/","followSymlinks":true}`, "followSymlinks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.unary(t, tc.method, tc.body, nil)
			if r.status != 400 || r.body["code"] != "invalid_argument" || !strings.Contains(r.body["message"].(string), tc.inMsg) {
				t.Errorf("got %d %s, want 400 invalid_argument naming %q", r.status, r.raw, tc.inMsg)
			}
		})
	}
	for name, tc := range map[string]struct{ msg, field string }{
		"stream message":         {`{"process":{"cmd":"true"},"stdin":"yes"}`, "stdin"},
		"stream message, no cmd": {`{"process":{"args":["x"]}}`, "cmd"},
	} {
		t.Run(name, func(t *testing.T) {
			c := h.stream(t, "process.Process/Start", tc.msg, nil)
			_, end := c.rest(t)
			if !strings.Contains(end, "invalid_argument") || !strings.Contains(end, tc.field) {
				t.Errorf("end-stream %s, want invalid_argument naming %s", end, tc.field)
			}
		})
	}
	t.Run("bad timeout header", func(t *testing.T) {
		r := h.unary(t, "process.Process/List", `{}`, map[string]string{"Connect-Timeout-Ms": "soon"})
		if r.status != 400 || !strings.Contains(string(r.raw), "timeout") {
			t.Errorf("got %d %s", r.status, r.raw)
		}
	})
}
