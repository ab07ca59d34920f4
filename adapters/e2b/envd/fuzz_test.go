package envd

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
	"github.com/snapgate/snapgate/specs"
)

// noExec is the host dataplane engine with process starts refused, so
// fuzzed Start requests are decoded, validated and checked by core but
// never run a command on the test host.
type noExec struct{ *coretest.DataplaneEngine }

func (noExec) StartProcess(context.Context, string, core.ProcessSpec, io.Writer, io.Writer) (core.RunningProcess, error) {
	return nil, core.Errorf(core.ErrFailedPrecondition, "fuzz: processes are not started")
}

// fuzzRoute is one envd route: "{}" in path is the fuzzed query value.
type fuzzRoute struct {
	method, path string
	kind         kind
}

// WatchDir is left out: on a valid directory it streams until the client
// goes, and it shares readStream with Start and Connect.
var fuzzRoutes = []fuzzRoute{
	{"POST", "/process.Process/Start", streamRPC},
	{"POST", "/process.Process/Connect", streamRPC},
	{"POST", "/process.Process/List", unaryRPC},
	{"POST", "/process.Process/SendInput", unaryRPC},
	{"POST", "/process.Process/SendSignal", unaryRPC},
	{"POST", "/process.Process/CloseStdin", unaryRPC},
	{"POST", "/process.Process/Update", unaryRPC},
	{"POST", "/filesystem.Filesystem/Stat", unaryRPC},
	{"POST", "/filesystem.Filesystem/ListDir", unaryRPC},
	{"POST", "/filesystem.Filesystem/MakeDir", unaryRPC},
	{"POST", "/filesystem.Filesystem/Move", unaryRPC},
	{"POST", "/filesystem.Filesystem/Remove", unaryRPC},
	{"POST", "/filesystem.Filesystem/CreateWatcher", unaryRPC},
	{"POST", "/filesystem.Filesystem/GetWatcherEvents", unaryRPC},
	{"POST", "/filesystem.Filesystem/RemoveWatcher", unaryRPC},
	{"GET", "/files?path={}", plainHTTP},
	{"POST", "/files?path={}&username=user", plainHTTP},
	{"GET", "/health?{}", plainHTTP},
}

type fuzzServer struct {
	h   http.Handler
	hdr http.Header
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	ctx := tb.Context()
	env := adaptertest.New(tb)
	p, err := env.Keys.Authenticate(ctx, env.KeyA, "")
	if err != nil {
		tb.Fatal(err)
	}
	pctx := core.WithPrincipal(ctx, p)
	if _, err := env.Snapshots.Create(pctx, core.CreateSnapshotRequest{Name: "img", DockerImage: "busybox", FSCapacityBytes: 1 << 30}); err != nil {
		tb.Fatal(err)
	}
	sb, err := env.Sandboxes.Create(pctx, core.CreateSandboxRequest{SnapshotRef: "img"})
	if err != nil {
		tb.Fatal(err)
	}
	dp, err := core.NewDataplane(core.DataplaneOptions{Store: env.Store, Engine: noExec{env.DataEngine},
		Sandboxes: env.Sandboxes, Logger: adaptertest.Logger()})
	if err != nil {
		tb.Fatal(err)
	}
	spec, err := specs.Envd(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := New(Options{Dataplane: dp, Spec: spec, Logger: adaptertest.Logger(), Validate: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(a.Close)
	srv := adaptertest.Serve(tb, a.Register, func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusNotFound, httpError{Code: http.StatusNotFound, Message: "no route"})
	})
	return &fuzzServer{h: adaptertest.Handler(srv), hdr: http.Header{
		"E2b-Sandbox-Id": {sb.ID}, "E2b-Sandbox-Port": {envdPort}, "X-Access-Token": {sb.AccessToken},
		"Connect-Protocol-Version": {"1"},
	}}
}

// wrapEnvelope wraps msg in one Connect envelope.
func wrapEnvelope(flags byte, msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	b[0] = flags
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

// checkEnvdReply asserts no 5xx and envd's error shapes: {"code":<int>,
// "message"} for plain HTTP, {"code":"<lower_snake>","message"} for a
// unary RPC, and for a stream 200 with envelopes ending in an end-stream
// one whose error, if any, has a code. Unimplemented (PTYs) is envd's own
// answer to a valid request snapgate does not serve.
func checkEnvdReply(t *testing.T, what string, k kind, status int, body []byte) {
	t.Helper()
	if k == streamRPC && status == http.StatusOK {
		checkStream(t, what, body)
		return
	}
	if status >= 500 && status != http.StatusNotImplemented {
		t.Fatalf("%s: status %d: %s", what, status, body)
	}
	if status < 400 {
		return
	}
	var e struct {
		Code    json.RawMessage `json:"code"`
		Message *string         `json:"message"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Message == nil {
		t.Fatalf("%s: status %d with a body not in envd's error shape: %q", what, status, body)
	}
	var code any
	_ = json.Unmarshal(e.Code, &code)
	switch c := code.(type) {
	case float64:
		if k == unaryRPC || int(c) != status {
			t.Fatalf("%s: status %d with code %v", what, status, c)
		}
	case string:
		if k != unaryRPC || connectStatus[c] == 0 || c == "internal" {
			t.Fatalf("%s: status %d with code %q", what, status, c)
		}
	default:
		t.Fatalf("%s: status %d without a code: %q", what, status, body)
	}
}

func checkStream(t *testing.T, what string, body []byte) {
	t.Helper()
	for len(body) >= 5 {
		n := binary.BigEndian.Uint32(body[1:5])
		if uint64(len(body)-5) < uint64(n) {
			break
		}
		flags, msg := body[0], body[5:5+n]
		body = body[5+n:]
		if flags&flagEndStream == 0 {
			continue
		}
		var end struct {
			Error *connectError `json:"error"`
		}
		if err := json.Unmarshal(msg, &end); err != nil || len(body) != 0 {
			t.Fatalf("%s: bad end-stream message %q (%d bytes after it)", what, msg, len(body))
		}
		if e := end.Error; e != nil && (connectStatus[e.Code] == 0 || e.Code == "internal" || e.Code == "unavailable") {
			t.Fatalf("%s: stream ended with %+v", what, *e)
		}
		return
	}
	t.Fatalf("%s: stream without an end-stream envelope: %q", what, body)
}

// FuzzRequests drives envd's RPCs and /files through the real router,
// validation on, with messages seeded from the spec's schemas (the
// x-envd-message of streams) and hostile ones; a stream's body is wrapped
// in an envelope unless raw, which sends the bytes as they are to the
// envelope reader.
func FuzzRequests(f *testing.F) {
	spec, err := specs.Envd(f.Context())
	if err != nil {
		f.Fatal(err)
	}
	for i, rt := range fuzzRoutes {
		item := spec.Paths.Find(strings.SplitN(rt.path, "?", 2)[0])
		op := item.GetOperation(rt.method)
		if name, ok := op.Extensions["x-envd-message"].(string); ok {
			if s := spec.Components.Schemas[name]; s != nil {
				for _, all := range []bool{false, true} {
					b, _ := json.Marshal(adaptertest.Instance(s, all, 0))
					f.Add(byte(i), "", false, b)
				}
			}
		}
		for _, body := range adaptertest.HostileBodies() {
			f.Add(byte(i), "/tmp/x", false, body)
		}
		for _, name := range adaptertest.HostileNames() {
			f.Add(byte(i), name, strings.Contains(name, "%"), []byte(`{"path":`+adaptertest.Quote(name)+`,"source":"/tmp","destination":`+adaptertest.Quote(name)+`}`))
		}
	}
	for _, s := range adaptertest.Seeds(spec) {
		for i, rt := range fuzzRoutes {
			if rt.method == s.Method && rt.path == s.Path {
				f.Add(byte(i), "", false, s.Body)
			}
		}
	}
	for _, msg := range []string{
		`{"process":{"cmd":"/bin/sh","args":["-c","true"],"envs":{"A":"1"},"cwd":"/tmp"},"stdin":true,"tag":"t"}`,
		`{"process":{"cmd":"x"},"pty":{"size":{"cols":80,"rows":24}}}`, `{"process":{"cmd":""}}`, `{}`,
		`{"process":{"selector":{"pid":"4294967296"}}}`, `{"process":{"selector":{"pid":-1}}}`,
		`{"process":{"selector":{"tag":"t"}},"input":{"stdin":"aGk"}}`, `{"process":{"selector":{"pid":1}},"input":{"stdin":"%%%"}}`,
		`{"process":{"selector":{"pid":1}},"signal":"SIGNAL_SIGKILL"}`, `{"process":{"selector":{"pid":1}},"signal":99}`,
		`{"process":{"selector":{"pid":1}},"signal":"SIGSEGV"}`, `{"path":"/tmp","depth":4294967296}`,
		`{"path":"~","recursive":true}`, `{"watcherId":"../../x"}`,
	} {
		for i := range fuzzRoutes {
			f.Add(byte(i), "", false, []byte(msg))
		}
	}
	for _, raw := range []string{"", "\x00", "\x00\x00\x00\x00", "\x01\x00\x00\x00\x02{}", "\x00\xff\xff\xff\xff{}",
		"\x00\x00\x80\x00\x01{}", "\x00\x00\x00\x00\x10{}", "\x02\x00\x00\x00\x02{}\x00\x00\x00\x00\x02{}"} {
		f.Add(byte(0), "", true, []byte(raw))
		f.Add(byte(1), "", true, []byte(raw))
	}
	s := newFuzzServer(f)
	tried, statuses := adaptertest.Tried(f), adaptertest.Statuses(f)
	f.Fuzz(func(t *testing.T, route byte, param string, raw bool, body []byte) {
		tried.Add(1)
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		hdr := s.hdr.Clone()
		switch rt.kind {
		case streamRPC:
			hdr.Set("Content-Type", "application/connect+json")
			if !raw {
				body = wrapEnvelope(0, body)
			}
		case unaryRPC:
			hdr.Set("Content-Type", "application/json")
		default:
			hdr.Set("Content-Type", "application/octet-stream")
		}
		u := adaptertest.Target(rt.path, param, raw)
		status, out := adaptertest.Do(s.h, rt.method, u, hdr, body)
		statuses.Add(status)
		checkEnvdReply(t, rt.method+" "+u.String(), rt.kind, status, out)
	})
}

// FuzzDecoders feeds the proto3-JSON field decoders and the Connect
// envelope reader directly: no panic, and every failure is
// ErrInvalidArgument (or ErrResourceExhausted for an oversized envelope).
func FuzzDecoders(f *testing.F) {
	for _, s := range []string{`"12"`, `12`, `null`, `"-1"`, `4294967296`, `"aGVsbG8="`, `"aGVsbG8"`, `"a-_b"`, `"@@"`,
		`"SIGNAL_SIGTERM"`, `15`, `1e3`, `"\u0000"`, `{}`, `[]`, `"`, "\x00\x00\x00\x00\x02{}", "\x00\xff\xff\xff\xff"} {
		f.Add([]byte(s))
	}
	tried := adaptertest.Tried(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		tried.Add(1)
		var u u32
		_ = u.UnmarshalJSON(b)
		var d b64
		_ = d.UnmarshalJSON(b)
		_, _ = enumValue(b, map[string]int32{"A": 1})
		var sig signal
		_ = sig.UnmarshalJSON(b)
		msg, err := readEnvelope(bytes.NewReader(b))
		if err != nil && core.KindOf(err) != core.ErrInvalidArgument && core.KindOf(err) != core.ErrResourceExhausted {
			t.Fatalf("readEnvelope(%q): unclassified %v", b, err)
		}
		if err == nil && len(msg) > len(b)-5 {
			t.Fatalf("readEnvelope(%q) returned %d bytes", b, len(msg))
		}
		for _, dst := range []any{&startRequest{}, &selectorRequest{}, &sendInputRequest{}, &sendSignalRequest{},
			&pathRequest{}, &listDirRequest{}, &moveRequest{}, &watchRequest{}, &watcherRequest{}} {
			if err := decodeMessage(b, dst); err != nil && core.KindOf(err) != core.ErrInvalidArgument {
				t.Fatalf("decodeMessage(%q, %T): unclassified %v", b, dst, err)
			}
		}
	})
}
