package envd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFilesystemRPCs(t *testing.T) {
	h := newHarness(t)
	if err := os.WriteFile(filepath.Join(h.root, "home/user/a.txt"), []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join(h.root, "home/user/a.txt"), 1000, 1000)
	steps := []struct {
		name, method, body string
		status             int
		want               string // substring of the body
	}{
		{"stat", "Stat", `{"path":"a.txt"}`, 200, `{"entry":{"name":"a.txt","type":"FILE_TYPE_FILE","path":"/home/user/a.txt","size":"3","mode":420,"permissions":"-rw-r--r--","owner":"user","group":"user","modifiedTime":"`},
		{"stat missing", "Stat", `{"path":"/nope"}`, 404, `"code":"not_found"`},
		{"make dir", "MakeDir", `{"path":"/work/x/y"}`, 200, `"path":"/work/x/y"`},
		{"make dir again", "MakeDir", `{"path":"/work/x/y"}`, 409, `{"code":"already_exists","message":"directory '/work/x/y' already exists"}`},
		{"make dir over a file", "MakeDir", `{"path":"a.txt"}`, 400, `"code":"invalid_argument"`},
		{"list", "ListDir", `{"path":"/work","depth":2}`, 200, `{"entries":[{"name":"x","type":"FILE_TYPE_DIRECTORY","path":"/work/x",`},
		{"list depth 2 has y", "ListDir", `{"path":"/work","depth":2}`, 200, `"path":"/work/x/y"`},
		{"list missing", "ListDir", `{"path":"/nope","depth":1}`, 404, `"code":"not_found"`},
		{"list a file", "ListDir", `{"path":"a.txt"}`, 400, `"code":"invalid_argument"`},
		{"move", "Move", `{"source":"a.txt","destination":"/work/b.txt"}`, 200, `{"entry":{"name":"b.txt","type":"FILE_TYPE_FILE","path":"/work/b.txt"`},
		{"move missing", "Move", `{"source":"a.txt","destination":"/work/c.txt"}`, 404, `"code":"not_found"`},
		{"remove", "Remove", `{"path":"/work"}`, 200, `{}`},
		{"remove again", "Remove", `{"path":"/work"}`, 200, `{}`},
		{"gone", "Stat", `{"path":"/work/b.txt"}`, 404, `"code":"not_found"`},
	}
	for _, s := range steps {
		r := h.unary(t, "filesystem.Filesystem/"+s.method, s.body, nil)
		if r.status != s.status || !strings.Contains(string(r.raw), s.want) {
			t.Errorf("%s: got %d %s\nwant %d with %s", s.name, r.status, r.raw, s.status, s.want)
		}
	}
	// List excludes the directory and holds only its entries, depth 1 by default.
	r := h.unary(t, "filesystem.Filesystem/ListDir", `{"path":"/etc"}`, nil)
	if got := strings.Count(string(r.raw), `"name"`); r.status != 200 || got != 2 {
		t.Errorf("list /etc: %d entries in %s", got, r.raw)
	}
}

func TestWatchDir(t *testing.T) {
	h := newHarness(t)
	c := h.stream(t, "filesystem.Filesystem/WatchDir", `{"path":"/tmp","recursive":false,"includeEntry":true,"allowNetworkMounts":false}`, map[string]string{"Connect-Timeout-Ms": "1500", "Keepalive-Ping-Interval": "50"})
	if first, _ := c.next(t); first != `{"start":{}}` {
		t.Fatalf("first message %s, want start", first)
	}
	if err := os.WriteFile(filepath.Join(h.root, "tmp/new.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	msgs, end := c.rest(t)
	all := strings.Join(msgs, "")
	create := strings.Index(all, `{"filesystem":{"name":"new.txt","type":"EVENT_TYPE_CREATE","entry":{"name":"new.txt","type":"FILE_TYPE_FILE","path":"/tmp/new.txt"`)
	write := strings.Index(all, `{"filesystem":{"name":"new.txt","type":"EVENT_TYPE_WRITE","entry":{"name":"new.txt"`)
	if create < 0 || write < create { // envd: a new non-empty file is CREATE, then WRITE
		t.Errorf("events %q, want CREATE then WRITE of new.txt", msgs)
	}
	if !strings.Contains(end, `"code":"deadline_exceeded"`) {
		t.Errorf("end-stream %s, want deadline_exceeded", end)
	}
	c = h.stream(t, "filesystem.Filesystem/WatchDir", `{"path":"/nope"}`, nil)
	if msgs, end := c.rest(t); len(msgs) != 0 || !strings.Contains(end, "not_found") {
		t.Errorf("missing dir: %q %s", msgs, end)
	}
}

func TestPolledWatcher(t *testing.T) {
	h := newHarness(t)
	r := h.unary(t, "filesystem.Filesystem/CreateWatcher", `{"path":"/tmp","recursive":true,"include_entry":true}`, nil)
	id, _ := r.body["watcherId"].(string)
	if r.status != 200 || id == "" {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	os.MkdirAll(filepath.Join(h.root, "tmp/sub"), 0o755)
	os.WriteFile(filepath.Join(h.root, "tmp/sub/f.txt"), []byte("x"), 0o644)
	var events string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r = h.unary(t, "filesystem.Filesystem/GetWatcherEvents", `{"watcherId":"`+id+`"}`, nil)
		if r.status != 200 {
			t.Fatalf("get events: %d %s", r.status, r.raw)
		}
		if events += string(r.raw); strings.Contains(events, `"name":"sub/f.txt","type":"EVENT_TYPE_WRITE"`) {
			break
		}
	}
	create := strings.Index(events, `"name":"sub/f.txt","type":"EVENT_TYPE_CREATE","entry":{"name":"f.txt"`)
	write := strings.Index(events, `"name":"sub/f.txt","type":"EVENT_TYPE_WRITE","entry":{"name":"f.txt"`)
	if create < 0 || write < create {
		t.Errorf("events %s, want CREATE then WRITE of sub/f.txt", events)
	}
	if r = h.unary(t, "filesystem.Filesystem/RemoveWatcher", `{"watcher_id":"`+id+`"}`, nil); r.status != 200 {
		t.Errorf("remove: %d %s", r.status, r.raw)
	}
	if r = h.unary(t, "filesystem.Filesystem/GetWatcherEvents", `{"watcherId":"`+id+`"}`, nil); r.status != 404 {
		t.Errorf("after remove: %d %s", r.status, r.raw)
	}
	// Another sandbox cannot see it (it is not even routed there); an
	// unknown id is not_found.
	if r = h.unary(t, "filesystem.Filesystem/RemoveWatcher", `{"watcherId":"nope"}`, nil); r.status != 404 || r.body["code"] != "not_found" {
		t.Errorf("unknown watcher: %d %s", r.status, r.raw)
	}
}
