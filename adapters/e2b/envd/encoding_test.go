package envd

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/core"
)

func envelope(flags byte, msg string) []byte {
	b := []byte{flags, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

func TestReadEnvelope(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   []byte
		want string
		kind error
	}{
		{"one message", envelope(0, `{"path":"/"}`), `{"path":"/"}`, nil},
		{"empty message", envelope(0, ``), ``, nil},
		{"compressed", envelope(flagCompressed, `x`), "", core.ErrInvalidArgument},
		{"no header", []byte{0, 0}, "", core.ErrInvalidArgument},
		{"truncated", envelope(0, `{"path":"/"}`)[:8], "", core.ErrInvalidArgument},
		{"too big", []byte{0, 0xff, 0xff, 0xff, 0xff}, "", core.ErrResourceExhausted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readEnvelope(bytes.NewReader(tc.in))
			if tc.kind != nil {
				if !errors.Is(err, tc.kind) {
					t.Fatalf("err = %v, want %v", err, tc.kind)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// splitEnvelopes parses a streaming response body.
func splitEnvelopes(t *testing.T, b []byte) (flags []byte, msgs []string) {
	t.Helper()
	for len(b) > 0 {
		if len(b) < 5 {
			t.Fatalf("trailing %d bytes", len(b))
		}
		n := binary.BigEndian.Uint32(b[1:5])
		if uint32(len(b)-5) < n {
			t.Fatalf("envelope of %d bytes truncated", n)
		}
		flags = append(flags, b[0])
		msgs = append(msgs, string(b[5:5+n]))
		b = b[5+n:]
	}
	return flags, msgs
}

func TestStreamFraming(t *testing.T) {
	t.Parallel()
	gin.SetMode(gin.TestMode)
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	s := newStream(c)
	if err := s.send(processResponse{Event: processEvent{Start: &startEvent{PID: 7}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.send(processResponse{Event: processEvent{Data: &dataEvent{Stdout: []byte("hi\n")}}}); err != nil {
		t.Fatal(err)
	}
	s.end(connectError{Code: "deadline_exceeded", Message: "late"})
	if ct := rec.Header().Get("Content-Type"); ct != "application/connect+json" {
		t.Errorf("content type %q", ct)
	}
	if !rec.Flushed {
		t.Error("envelopes were not flushed")
	}
	flags, msgs := splitEnvelopes(t, rec.Body.Bytes())
	want := []string{
		`{"event":{"start":{"pid":7}}}`,
		`{"event":{"data":{"stdout":"aGkK"}}}`,
		`{"error":{"code":"deadline_exceeded","message":"late"}}`,
	}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]byte{0, 0, flagEndStream}, flags); diff != "" {
		t.Errorf("flags (-want +got):\n%s", diff)
	}
}

func TestEndStreamSuccessIsEmptyObject(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	newStream(c).end(connectError{})
	if got, want := rec.Body.Bytes(), envelope(flagEndStream, `{}`); !bytes.Equal(got, want) {
		t.Errorf("end-stream = %q, want %q", got, want)
	}
}

func TestEndEvents(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status core.ExitStatus
		want   string
	}{
		{"success", core.ExitStatus{Code: 0}, `{"exited":true,"status":"exit status 0"}`},
		{"failure", core.ExitStatus{Code: 3}, `{"exitCode":3,"exited":true,"status":"exit status 3","error":"exit status 3"}`},
		{"not found", core.ExitStatus{Code: 127}, `{"exitCode":127,"exited":true,"status":"exit status 127","error":"exit status 127"}`},
		{"killed", core.ExitStatus{Code: -1, Signal: syscall.SIGKILL}, `{"exitCode":-1,"status":"signal: killed","error":"signal: killed"}`},
		{"terminated", core.ExitStatus{Code: -1, Signal: syscall.SIGTERM}, `{"exitCode":-1,"status":"signal: terminated","error":"signal: terminated"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(endOf(core.ProcessInfo{Exited: true, Status: tc.status}))
			if string(b) != tc.want {
				t.Errorf("got %s, want %s", b, tc.want)
			}
		})
	}
}

func TestEntryInfo(t *testing.T) {
	t.Parallel()
	mod := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		in   core.FileInfo
		want string
	}{
		{"file", core.FileInfo{Name: "a.txt", Path: "/home/user/a.txt", Type: core.FileTypeFile, Size: 3, Mode: 0o644, Owner: "user", Group: "user", ModTime: mod},
			`{"name":"a.txt","type":"FILE_TYPE_FILE","path":"/home/user/a.txt","size":"3","mode":420,"permissions":"-rw-r--r--","owner":"user","group":"user","modifiedTime":"2024-01-01T00:00:00Z"}`},
		{"dir", core.FileInfo{Name: "d", Path: "/d", Type: core.FileTypeDir, Size: 4096, Mode: os.ModeDir | 0o755, Owner: "root", Group: "root", ModTime: mod.Add(1500 * time.Millisecond)},
			`{"name":"d","type":"FILE_TYPE_DIRECTORY","path":"/d","size":"4096","mode":493,"permissions":"drwxr-xr-x","owner":"root","group":"root","modifiedTime":"2024-01-01T00:00:01.500Z"}`},
		{"dir without type bits", core.FileInfo{Name: "d", Path: "/d", Type: core.FileTypeDir, Mode: 0o700},
			`{"name":"d","type":"FILE_TYPE_DIRECTORY","path":"/d","mode":448,"permissions":"drwx------"}`},
		{"symlink", core.FileInfo{Name: "l", Path: "/l", Type: core.FileTypeSymlink, Mode: 0o777, SymlinkTarget: "/etc", ModTime: mod.Add(time.Microsecond)},
			`{"name":"l","type":"FILE_TYPE_SYMLINK","path":"/l","mode":511,"permissions":"Lrwxrwxrwx","modifiedTime":"2024-01-01T00:00:00.000001Z","symlinkTarget":"/etc"}`},
		{"empty file", core.FileInfo{Name: "e", Path: "/e", Type: core.FileTypeFile, ModTime: mod.Add(7)},
			`{"name":"e","type":"FILE_TYPE_FILE","path":"/e","permissions":"----------","modifiedTime":"2024-01-01T00:00:00.000000007Z"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(entryOf(tc.in))
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}

func TestRequestDecoding(t *testing.T) {
	t.Parallel()
	t.Run("proto3 JSON forms", func(t *testing.T) {
		var sig sendSignalRequest
		if err := decodeMessage([]byte(`{"process":{"pid":"42"},"signal":"SIGNAL_SIGKILL"}`), &sig); err != nil {
			t.Fatal(err)
		}
		if *sig.Process.PID != 42 || sig.Signal != 9 {
			t.Errorf("got pid %d signal %d", *sig.Process.PID, sig.Signal)
		}
		if err := decodeMessage([]byte(`{"process":{"pid":1},"signal":15}`), &sig); err != nil || sig.Signal != 15 {
			t.Errorf("numeric enum: %v %d", err, sig.Signal)
		}
		for _, enc := range []string{"aGV5", "aGV5=", "aGV5"} {
			var in sendInputRequest
			if err := decodeMessage([]byte(`{"process":{"pid":1},"input":{"stdin":"`+enc+`"}}`), &in); err != nil {
				t.Fatal(err)
			}
			if string(*in.Input.Stdin) != "hey" {
				t.Errorf("%s: stdin %q", enc, *in.Input.Stdin)
			}
		}
		var url sendInputRequest
		if err := decodeMessage([]byte(`{"input":{"stdin":"_-8"}}`), &url); err != nil || !bytes.Equal(*url.Input.Stdin, []byte{0xff, 0xef}) {
			t.Errorf("url-safe base64: %v %v", err, url.Input)
		}
		var w watchRequest
		if err := decodeMessage([]byte(`{"path":"/d","include_entry":true}`), &w); err != nil || !w.includeEntry() {
			t.Errorf("snake_case field: %v %+v", err, w)
		}
		var wr watcherRequest
		if err := decodeMessage([]byte(`{"watcher_id":"abc"}`), &wr); err != nil || wr.id() != "abc" {
			t.Errorf("snake_case watcher id: %v %+v", err, wr)
		}
		var empty listDirRequest
		if err := decodeMessage(nil, &empty); err != nil || empty.Depth != 0 {
			t.Errorf("empty body: %v", err)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		for name, in := range map[string]string{
			"pid negative":  `{"process":{"pid":-1}}`,
			"pid too large": `{"process":{"pid":4294967296}}`,
			"bad base64":    `{"input":{"stdin":"***"}}`,
			"unknown enum":  `{"signal":"SIGNAL_SIGHUP"}`,
			"not json":      `{"process":`,
		} {
			var req struct {
				sendInputRequest
				Signal signal `json:"signal"`
			}
			err := decodeMessage([]byte(in), &req)
			if !errors.Is(err, core.ErrInvalidArgument) {
				t.Errorf("%s: err = %v, want invalid argument", name, err)
			}
		}
	})
}

func TestFromHost(t *testing.T) {
	t.Parallel()
	cases := []struct{ host, id, port string }{
		{"49983-iabc.snapgate.local", "iabc", "49983"},
		{"49983-iabc.localhost:8080", "iabc", "49983"},
		{"3000-iabc.example.com", "iabc", "3000"},
		{"127.0.0.1:8080", "", ""},
		{"localhost", "", ""},
		{"api.example.com", "", ""},
		{"x-iabc.example.com", "", ""},
	}
	for _, tc := range cases {
		id, port := fromHost(tc.host)
		if id != tc.id || port != tc.port {
			t.Errorf("fromHost(%q) = %q, %q; want %q, %q", tc.host, id, port, tc.id, tc.port)
		}
	}
}

func TestRPCUser(t *testing.T) {
	t.Parallel()
	cases := []struct {
		header, user string
		bad          bool
	}{
		{"", "", false},
		{"Basic cm9vdDo=", "root", false}, // root:
		{"basic dXNlcjo=", "user", false}, // user:
		{"Basic cm9vdA==", "root", false}, // no colon
		{"Bearer cm9vdDo=", "", true},     // wrong scheme
		{"Basic ***", "", true},           // not base64
	}
	for _, tc := range cases {
		gin.SetMode(gin.TestMode)
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest("POST", "/", nil)
		c.Request.Header.Set("Authorization", tc.header)
		user, err := rpcUser(c)
		if tc.bad {
			if !errors.Is(err, core.ErrUnauthenticated) {
				t.Errorf("%q: err = %v, want unauthenticated", tc.header, err)
			}
			continue
		}
		if err != nil || user != tc.user {
			t.Errorf("%q: got %q, %v; want %q", tc.header, user, err, tc.user)
		}
	}
}
