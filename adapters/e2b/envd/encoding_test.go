package envd

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem"
	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process"
	"github.com/snapgate/snapgate/core"
)

// wire is msg in the JSON codec's form, whitespace compacted.
func wire(t *testing.T, msg proto.Message) string {
	t.Helper()
	b, err := jsonCodec{"json"}.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return string(compact(b))
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
			if got := wire(t, endOf(core.ProcessInfo{Exited: true, Status: tc.status})); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
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
			if got := wire(t, entryOf(tc.in)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// The JSON codec reads every proto3 JSON form the SDKs (and other Connect
// clients) may send, and refuses what does not fit the message, naming the
// field.
func TestJSONCodec(t *testing.T) {
	t.Parallel()
	codec := jsonCodec{"json"}
	t.Run("proto3 JSON forms", func(t *testing.T) {
		cases := []struct {
			name, in string
			msg      proto.Message
			want     string // the message, as the codec writes it
		}{
			{"pid as a string, enum by name", `{"process":{"pid":"42"},"signal":"SIGNAL_SIGKILL"}`, &process.SendSignalRequest{}, `{"process":{"pid":42},"signal":"SIGNAL_SIGKILL"}`},
			{"enum by number", `{"process":{"pid":1},"signal":15}`, &process.SendSignalRequest{}, `{"process":{"pid":1},"signal":"SIGNAL_SIGTERM"}`},
			{"padded base64", `{"input":{"stdin":"aGV5"}}`, &process.SendInputRequest{}, `{"input":{"stdin":"aGV5"}}`},
			{"url-safe base64", `{"input":{"stdin":"_-8"}}`, &process.SendInputRequest{}, `{"input":{"stdin":"/+8="}}`},
			{"snake_case names", `{"path":"/d","include_entry":true,"allow_network_mounts":true}`, &filesystem.WatchDirRequest{}, `{"path":"/d","includeEntry":true,"allowNetworkMounts":true}`},
			{"snake_case watcher id", `{"watcher_id":"abc"}`, &filesystem.GetWatcherEventsRequest{}, `{"watcherId":"abc"}`},
			{"null is the default", `{"path":null,"depth":null}`, &filesystem.ListDirRequest{}, `{}`},
			{"empty body is the empty message", " \n", &filesystem.ListDirRequest{}, `{}`},
		}
		for _, tc := range cases {
			if err := codec.Unmarshal([]byte(tc.in), tc.msg); err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if got := wire(t, tc.msg); got != tc.want {
				t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
			}
		}
	})
	t.Run("refused", func(t *testing.T) {
		cases := []struct {
			name, in, field string
			msg             proto.Message
		}{
			{"negative pid", `{"process":{"pid":-1}}`, "pid", &process.ConnectRequest{}},
			{"pid too large", `{"process":{"pid":4294967296}}`, "pid", &process.ConnectRequest{}},
			{"bad base64", `{"input":{"stdin":"***"}}`, "stdin", &process.SendInputRequest{}},
			{"unknown enum name", `{"signal":"SIGNAL_SIGHUP"}`, "signal", &process.SendSignalRequest{}},
			{"unknown field", `{"path":"/","follow_symlinks":true}`, "follow_symlinks", &filesystem.StatRequest{}},
			{"not JSON", `{"process":`, "", &process.ConnectRequest{}},
		}
		for _, tc := range cases {
			err := codec.Unmarshal([]byte(tc.in), tc.msg)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("%s: err = %v, want one naming %q", tc.name, err, tc.field)
			}
		}
	})
}

// The binary codec refuses fields it does not know, at any depth, as the
// JSON one does.
func TestProtoCodecRefusesUnknownFields(t *testing.T) {
	t.Parallel()
	known, err := proto.Marshal(&process.StartRequest{Process: &process.ProcessConfig{Cmd: "/bin/sh", Envs: map[string]string{"A": "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	var ok process.StartRequest
	if err := (protoCodec{}).Unmarshal(known, &ok); err != nil || ok.GetProcess().GetCmd() != "/bin/sh" {
		t.Fatalf("known fields: %v %v", err, &ok)
	}
	field9 := protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1)
	nested := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), field9)
	for name, tc := range map[string]struct {
		in   []byte
		want string
	}{
		"top level": {append(known, field9...), "process.StartRequest: unknown field number 9"},
		"nested":    {nested, "process.ProcessConfig: unknown field number 9"},
	} {
		err := (protoCodec{}).Unmarshal(tc.in, &process.StartRequest{})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
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
		user, err := rpcUser(http.Header{"Authorization": {tc.header}})
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
