package envd

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem"
	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process"
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

// protocol is how a fuzzed route is called.
type protocol int

const (
	plainHTTP protocol = iota
	unaryRPC
	streamRPC
)

// fuzzRoute is one envd route: "{}" in path is the fuzzed query value;
// msg is an RPC's request message type.
type fuzzRoute struct {
	method, path string
	kind         protocol
	msg          proto.Message
}

// WatchDir is left out: on a valid directory it streams until the client
// goes.
var fuzzRoutes = []fuzzRoute{
	{"POST", "/process.Process/Start", streamRPC, &process.StartRequest{}},
	{"POST", "/process.Process/Connect", streamRPC, &process.ConnectRequest{}},
	{"POST", "/process.Process/List", unaryRPC, &process.ListRequest{}},
	{"POST", "/process.Process/SendInput", unaryRPC, &process.SendInputRequest{}},
	{"POST", "/process.Process/SendSignal", unaryRPC, &process.SendSignalRequest{}},
	{"POST", "/process.Process/CloseStdin", unaryRPC, &process.CloseStdinRequest{}},
	{"POST", "/process.Process/Update", unaryRPC, &process.UpdateRequest{}},
	{"POST", "/filesystem.Filesystem/Stat", unaryRPC, &filesystem.StatRequest{}},
	{"POST", "/filesystem.Filesystem/ListDir", unaryRPC, &filesystem.ListDirRequest{}},
	{"POST", "/filesystem.Filesystem/MakeDir", unaryRPC, &filesystem.MakeDirRequest{}},
	{"POST", "/filesystem.Filesystem/Move", unaryRPC, &filesystem.MoveRequest{}},
	{"POST", "/filesystem.Filesystem/Remove", unaryRPC, &filesystem.RemoveRequest{}},
	{"POST", "/filesystem.Filesystem/CreateWatcher", unaryRPC, &filesystem.CreateWatcherRequest{}},
	{"POST", "/filesystem.Filesystem/GetWatcherEvents", unaryRPC, &filesystem.GetWatcherEventsRequest{}},
	{"POST", "/filesystem.Filesystem/RemoveWatcher", unaryRPC, &filesystem.RemoveWatcherRequest{}},
	{"GET", "/files?path={}", plainHTTP, nil},
	{"POST", "/files?path={}&username=user", plainHTTP, nil},
	{"GET", "/health?{}", plainHTTP, nil},
}

// sample fills every field of m (the first of each oneof) with a sample
// value, as a seed that reaches past decoding.
func sample(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() && o.Fields().Get(0) != fd {
			continue
		}
		switch {
		case fd.IsMap():
			m.Mutable(fd).Map().Set(protoreflect.ValueOfString("K").MapKey(), protoreflect.ValueOfString("v"))
		case fd.IsList():
			m.Mutable(fd).List().Append(protoreflect.ValueOfString("/tmp"))
		case fd.Message() != nil:
			if depth < 4 {
				sample(m.Mutable(fd).Message(), depth+1)
			}
		default:
			m.Set(fd, sampleScalar(fd))
		}
	}
}

func sampleScalar(fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("/tmp")
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte("hi\n"))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(vals.Len() - 1).Number())
	case protoreflect.Uint32Kind:
		return protoreflect.ValueOfUint32(1)
	default:
		return fd.Default()
	}
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
	srv := adaptertest.Serve(tb, a.Mount)
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
func checkEnvdReply(t *testing.T, what string, k protocol, status int, body []byte) {
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
		if k != unaryRPC || !servedCode(c, *e.Message) {
			t.Fatalf("%s: status %d with code %q", what, status, c)
		}
	default:
		t.Fatalf("%s: status %d without a code: %q", what, status, body)
	}
}

// servedCode: code is a Connect code a request may get, not a server
// fault; connect-go answers some malformed request envelopes with code
// internal ("protocol error: …", "corrupt response: …").
func servedCode(code, message string) bool {
	var c connect.Code
	if c.UnmarshalText([]byte(code)) != nil {
		return false
	}
	switch c {
	case connect.CodeInternal:
		return strings.HasPrefix(message, "protocol error") || strings.HasPrefix(message, "corrupt")
	case connect.CodeUnknown, connect.CodeUnavailable:
		return false
	}
	return true
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
			Error *struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(msg, &end); err != nil || len(body) != 0 {
			t.Fatalf("%s: bad end-stream message %q (%d bytes after it)", what, msg, len(body))
		}
		if e := end.Error; e != nil && !servedCode(e.Code, e.Message) {
			t.Fatalf("%s: stream ended with %+v", what, *e)
		}
		return
	}
	t.Fatalf("%s: stream without an end-stream envelope: %q", what, body)
}

// FuzzRequests drives envd's RPCs and /files through the real router,
// validation on, with messages seeded from the protos (every field set)
// and hostile ones, in the JSON or (protobuf) the binary codec; a
// stream's body is wrapped in an envelope unless raw, which sends the
// bytes as they are to the envelope reader.
func FuzzRequests(f *testing.F) {
	spec, err := specs.Envd(f.Context())
	if err != nil {
		f.Fatal(err)
	}
	for i, rt := range fuzzRoutes {
		if rt.msg != nil {
			m := rt.msg.ProtoReflect().New()
			sample(m, 0)
			b, err := protojson.Marshal(m.Interface())
			if err != nil {
				f.Fatal(err)
			}
			f.Add(byte(i), "", false, false, b)
			bin, err := proto.Marshal(m.Interface())
			if err != nil {
				f.Fatal(err)
			}
			f.Add(byte(i), "", false, true, bin)
			f.Add(byte(i), "", false, false, []byte("{}"))
		}
		for _, body := range adaptertest.HostileBodies() {
			f.Add(byte(i), "/tmp/x", false, false, body)
		}
		for _, name := range adaptertest.HostileNames() {
			f.Add(byte(i), name, strings.Contains(name, "%"), false, []byte(`{"path":`+adaptertest.Quote(name)+`,"source":"/tmp","destination":`+adaptertest.Quote(name)+`}`))
		}
	}
	for _, s := range adaptertest.Seeds(spec) {
		for i, rt := range fuzzRoutes {
			if rt.method == s.Method && rt.path == s.Path {
				f.Add(byte(i), "", false, false, s.Body)
			}
		}
	}
	for _, msg := range []string{
		`{"process":{"cmd":"/bin/sh","args":["-c","true"],"envs":{"A":"1"},"cwd":"/tmp"},"stdin":true,"tag":"t"}`,
		`{"process":{"cmd":"x"},"pty":{"size":{"cols":80,"rows":24}}}`, `{"process":{"cmd":""}}`, `{}`,
		`{"process":{"pid":"4294967296"}}`, `{"process":{"pid":-1}}`,
		`{"process":{"tag":"t"},"input":{"stdin":"aGk"}}`, `{"process":{"pid":1},"input":{"stdin":"%%%"}}`,
		`{"process":{"pid":1},"signal":"SIGNAL_SIGKILL"}`, `{"process":{"pid":1},"signal":99}`,
		`{"process":{"pid":1},"signal":"SIGSEGV"}`, `{"path":"/tmp","depth":4294967296}`,
		`{"path":"~","recursive":true}`, `{"watcherId":"../../x"}`,
	} {
		for i := range fuzzRoutes {
			f.Add(byte(i), "", false, false, []byte(msg))
		}
	}
	for _, raw := range []string{"", "\x00", "\x00\x00\x00\x00", "\x01\x00\x00\x00\x02{}", "\x00\xff\xff\xff\xff{}",
		"\x00\x00\x80\x00\x01{}", "\x00\x00\x00\x00\x10{}", "\x02\x00\x00\x00\x02{}\x00\x00\x00\x00\x02{}"} {
		f.Add(byte(0), "", true, false, []byte(raw))
		f.Add(byte(1), "", true, true, []byte(raw))
	}
	s := newFuzzServer(f)
	tried, statuses := adaptertest.Tried(f), adaptertest.Statuses(f)
	f.Fuzz(func(t *testing.T, route byte, param string, raw, protobuf bool, body []byte) {
		tried.Add(1)
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		hdr := s.hdr.Clone()
		codec := "json"
		if protobuf {
			codec = "proto"
		}
		switch rt.kind {
		case streamRPC:
			hdr.Set("Content-Type", "application/connect+"+codec)
			if !raw {
				body = wrapEnvelope(0, body)
			}
		case unaryRPC:
			hdr.Set("Content-Type", "application/"+codec)
		default:
			hdr.Set("Content-Type", "application/octet-stream")
		}
		u := adaptertest.Target(rt.path, param, raw)
		status, out := adaptertest.Do(s.h, rt.method, u, hdr, body)
		statuses.Add(status)
		checkEnvdReply(t, rt.method+" "+u.String(), rt.kind, status, out)
	})
}

// FuzzCodecs feeds both codecs every request message type: no panic, and
// a message that decodes encodes again.
func FuzzCodecs(f *testing.F) {
	for _, s := range []string{`{"process":{"pid":"12"}}`, `{"process":{"pid":-1}}`, `{"input":{"stdin":"aGVsbG8"}}`,
		`{"signal":15}`, `{"signal":"SIGNAL_SIGTERM"}`, `{"depth":1e3}`, `{"path":"\u0000"}`, `{}`, `[]`, `"`, "\x0a\x03\x0a\x01x", "\x48\x01"} {
		f.Add([]byte(s))
	}
	tried := adaptertest.Tried(f)
	codecs := []connect.Codec{jsonCodec{"json"}, protoCodec{}}
	f.Fuzz(func(t *testing.T, b []byte) {
		tried.Add(1)
		for _, rt := range fuzzRoutes {
			if rt.msg == nil {
				continue
			}
			for _, c := range codecs {
				m := rt.msg.ProtoReflect().New().Interface()
				if c.Unmarshal(b, m) != nil {
					continue
				}
				if _, err := c.Marshal(m); err != nil {
					t.Fatalf("%s %T: decoded %q but cannot encode it: %v", c.Name(), m, b, err)
				}
			}
		}
	})
}
