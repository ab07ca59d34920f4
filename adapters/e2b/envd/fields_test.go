package envd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/snapgate/snapgate/adapters/e2b/envd/api/filesystem"
	"github.com/snapgate/snapgate/adapters/e2b/envd/api/process"
)

// honoured names, for each request field the SDKs may send, the test that
// shows its effect.
var honoured = map[string]string{
	"process.StartRequest.process":       "TestStartStreamsEvents",
	"process.ProcessConfig.cmd":          "TestStartStreamsEvents",
	"process.ProcessConfig.args":         "TestStartStreamsEvents",
	"process.ProcessConfig.envs":         "TestStartStreamsEvents", // env and cwd
	"process.ProcessConfig.cwd":          "TestStartStreamsEvents", // env and cwd; missing cwd in TestStartErrors
	"process.StartRequest.tag":           "TestBackgroundStdinSignalList",
	"process.StartRequest.stdin":         "TestBackgroundStdinSignalList",
	"process.ConnectRequest.process":     "TestBackgroundStdinSignalList",
	"process.ProcessSelector.pid":        "TestBackgroundStdinSignalList",
	"process.ProcessSelector.tag":        "TestBackgroundStdinSignalList",
	"process.SendInputRequest.process":   "TestBackgroundStdinSignalList",
	"process.SendInputRequest.input":     "TestBackgroundStdinSignalList",
	"process.ProcessInput.stdin":         "TestBackgroundStdinSignalList",
	"process.SendSignalRequest.process":  "TestBackgroundStdinSignalList",
	"process.SendSignalRequest.signal":   "TestBackgroundStdinSignalList",
	"process.CloseStdinRequest.process":  "TestBackgroundStdinSignalList",
	"filesystem.StatRequest.path":        "TestFilesystemRPCs",
	"filesystem.ListDirRequest.path":     "TestFilesystemRPCs",
	"filesystem.ListDirRequest.depth":    "TestFilesystemRPCs",
	"filesystem.MakeDirRequest.path":     "TestFilesystemRPCs",
	"filesystem.MoveRequest.source":      "TestFilesystemRPCs",
	"filesystem.MoveRequest.destination": "TestFilesystemRPCs",
	"filesystem.RemoveRequest.path":      "TestFilesystemRPCs",
	"filesystem.WatchDirRequest.path":    "TestWatchDir",
	// recursive false: TestWatchDir; true: TestPolledWatcher (same core watch).
	"filesystem.WatchDirRequest.recursive":     "TestWatchDir",
	"filesystem.WatchDirRequest.include_entry": "TestWatchDir",
	// envd refuses a network mount unless set; snapgate's watch polls,
	// which works on every filesystem, and a sandbox has no network mounts.
	"filesystem.WatchDirRequest.allow_network_mounts":      "TestWatchDir",
	"filesystem.CreateWatcherRequest.path":                 "TestPolledWatcher",
	"filesystem.CreateWatcherRequest.recursive":            "TestPolledWatcher",
	"filesystem.CreateWatcherRequest.include_entry":        "TestPolledWatcher",
	"filesystem.CreateWatcherRequest.allow_network_mounts": "TestPolledWatcher",
	"filesystem.GetWatcherEventsRequest.watcher_id":        "TestPolledWatcher",
	"filesystem.RemoveWatcherRequest.watcher_id":           "TestPolledWatcher",
}

// refusal is a request setting a field snapgate cannot honour, and the
// Connect code that refuses it; the error message must name the field.
type refusal struct {
	method, msg, code, names string
}

var (
	startPTY  = refusal{"process.Process/Start", `{"process":{"cmd":"/bin/bash","args":["-i","-l"]},"pty":{"size":{"cols":80,"rows":24}}}`, "unimplemented", "pty"}
	updatePTY = refusal{"process.Process/Update", `{"process":{"pid":1},"pty":{"size":{"cols":80,"rows":24}}}`, "unimplemented", "pty"}
	refused   = map[string]refusal{
		"process.StartRequest.pty":      startPTY,
		"process.PTY.size":              startPTY,
		"process.PTY.Size.cols":         startPTY,
		"process.PTY.Size.rows":         startPTY,
		"process.UpdateRequest.pty":     updatePTY,
		"process.UpdateRequest.process": updatePTY,
		"process.ProcessInput.pty":      {"process.Process/SendInput", `{"process":{"pid":1},"input":{"pty":"aGk="}}`, "unimplemented", "pty"},
	}
)

// Every field of every request message the services take is honoured (a
// named test shows it) or refused with a Connect error naming it: a field
// added to the protos fails here until it is one or the other.
func TestEveryRequestFieldIsHonouredOrRefused(t *testing.T) {
	h := newHarness(t)
	tests := testFuncs(t)
	seen := map[string]bool{}
	for _, svc := range []protoreflect.ServiceDescriptor{
		filesystem.File_filesystem_filesystem_proto.Services().ByName("Filesystem"),
		process.File_process_process_proto.Services().ByName("Process"),
	} {
		for i := range svc.Methods().Len() {
			requestFields(svc.Methods().Get(i).Input(), seen)
		}
	}
	for field := range seen {
		if test, ok := honoured[field]; ok {
			if !tests[test] {
				t.Errorf("%s: honoured by %s, which does not exist", field, test)
			}
			continue
		}
		r, ok := refused[field]
		if !ok {
			t.Errorf("%s is neither honoured nor refused", field)
			continue
		}
		code, msg := h.call(t, r.method, r.msg)
		if code != r.code || !strings.Contains(msg, r.names) {
			t.Errorf("%s: %s %q, want %s naming %q", field, code, msg, r.code, r.names)
		}
	}
	for _, table := range []map[string]string{keys(honoured), keys(refused)} {
		for field := range table {
			if !seen[field] {
				t.Errorf("%s is listed but is no request field", field)
			}
		}
	}
}

// requestFields adds the full names of md's fields, and of the messages
// below it (map entries are their map field), to seen.
func requestFields(md protoreflect.MessageDescriptor, seen map[string]bool) {
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if seen[string(fd.FullName())] {
			continue
		}
		seen[string(fd.FullName())] = true
		if fd.Message() != nil && !fd.IsMap() {
			requestFields(fd.Message(), seen)
		}
	}
}

func keys[V any](m map[string]V) map[string]string {
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = k
	}
	return out
}

// testFuncs are the names of this package's test functions.
func testFuncs(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "func Test"); ok {
				out["Test"+name[:strings.Index(name, "(")]] = true
			}
		}
	}
	return out
}

// call makes an RPC, unary or streaming, and returns the Connect code and
// message of its error ("" for success).
func (h *harness) call(t *testing.T, method, msg string) (code, message string) {
	t.Helper()
	if method == "process.Process/Start" || method == "process.Process/Connect" || method == "filesystem.Filesystem/WatchDir" {
		_, end := h.stream(t, method, msg, nil).rest(t)
		e, _ := jsonOf(t, end)["error"].(map[string]any)
		code, _ = e["code"].(string)
		message, _ = e["message"].(string)
		return code, message
	}
	r := h.unary(t, method, msg, nil)
	code, _ = r.body["code"].(string)
	message, _ = r.body["message"].(string)
	return code, message
}
