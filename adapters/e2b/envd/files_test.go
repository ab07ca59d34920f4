package envd

import (
	"bytes"
	"compress/gzip"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// multipartBody builds a body like the SDK's FormData: one "file" part per
// file, whose filename is the target path.
func multipartBody(t *testing.T, files [][2]string, extra ...string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range files {
		hdr := textproto.MIMEHeader{}
		hdr.Set("Content-Disposition", `form-data; name="file"; filename="`+f[0]+`"`)
		hdr.Set("Content-Type", "application/octet-stream")
		w, err := mw.CreatePart(hdr)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f[1]))
	}
	for _, name := range extra {
		_ = mw.WriteField(name, "ignored")
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func TestUploadAndDownload(t *testing.T) {
	h := newHarness(t)
	t.Run("multipart, many files", func(t *testing.T) {
		ct, body := multipartBody(t, [][2]string{{"a.txt", "alpha"}, {"/data/deep/b.bin", "\x00\x01\x02"}, {"~/c.txt", ""}}, "other")
		r := h.do(t, "POST", "/files", ct, body, nil)
		want := `[{"name":"a.txt","type":"file","path":"/home/user/a.txt"},{"name":"b.bin","type":"file","path":"/data/deep/b.bin"},{"name":"c.txt","type":"file","path":"/home/user/c.txt"}]`
		if r.status != 200 || string(r.raw) != want {
			t.Fatalf("got %d %s\nwant %s", r.status, r.raw, want)
		}
		for path, content := range map[string]string{"home/user/a.txt": "alpha", "data/deep/b.bin": "\x00\x01\x02", "home/user/c.txt": ""} {
			b, err := os.ReadFile(filepath.Join(h.root, path))
			if err != nil || string(b) != content {
				t.Errorf("%s: %q %v", path, b, err)
			}
		}
		// Created files and parents belong to the user.
		for _, p := range []string{"home/user/a.txt", "data/deep", "data/deep/b.bin"} {
			fi, err := os.Stat(filepath.Join(h.root, p))
			if err != nil || fi.Sys().(*syscall.Stat_t).Uid != 1000 {
				t.Errorf("%s: not owned by the user (%v)", p, err)
			}
		}
	})
	t.Run("query path wins", func(t *testing.T) {
		ct, body := multipartBody(t, [][2]string{{"/ignored.txt", "q"}})
		r := h.do(t, "POST", "/files?path=/tmp/q.txt&username=root", ct, body, nil)
		if r.status != 200 || !strings.Contains(string(r.raw), `"path":"/tmp/q.txt"`) {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	})
	t.Run("octet-stream and gzip", func(t *testing.T) {
		r := h.do(t, "POST", "/files?path=raw.txt", "application/octet-stream", strings.NewReader("raw body"), nil)
		if r.status != 200 || string(r.raw) != `[{"name":"raw.txt","type":"file","path":"/home/user/raw.txt"}]` {
			t.Fatalf("raw: %d %s", r.status, r.raw)
		}
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write([]byte("zipped"))
		zw.Close()
		r = h.do(t, "POST", "/files?path=/tmp/z.txt", "application/octet-stream", &zb, map[string]string{"Content-Encoding": "gzip"})
		if b, _ := os.ReadFile(filepath.Join(h.root, "tmp/z.txt")); r.status != 200 || string(b) != "zipped" {
			t.Fatalf("gzip: %d %s %q", r.status, r.raw, b)
		}
	})
	t.Run("upload errors", func(t *testing.T) {
		ct, dup := multipartBody(t, [][2]string{{"/tmp/d.txt", "1"}, {"/tmp/../tmp/d.txt", "2"}})
		ct2, none := multipartBody(t, nil, "other")
		cases := []struct {
			name, ct, query string
			body            *bytes.Buffer
			status          int
			inMsg           string
		}{
			{"same path twice", ct, "", dup, 400, "same path '/tmp/d.txt'"},
			{"no file part", ct2, "", none, 400, "no \"file\" part"},
			{"raw without path", "application/octet-stream", "", bytes.NewBufferString("x"), 400, "path"},
			{"json body", "application/json", "?path=/x", bytes.NewBufferString("{}"), 400, "content type"},
			{"onto a directory", "application/octet-stream", "?path=/tmp", bytes.NewBufferString("x"), 400, "directory"},
			{"unknown user", "application/octet-stream", "?path=/x&username=nobody", bytes.NewBufferString("x"), 401, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := h.do(t, "POST", "/files"+tc.query, tc.ct, tc.body, nil)
				if r.status != tc.status || r.body["code"] != float64(tc.status) || !strings.Contains(r.body["message"].(string), tc.inMsg) {
					t.Errorf("got %d %s, want %d with %q", r.status, r.raw, tc.status, tc.inMsg)
				}
			})
		}
	})
	t.Run("download", func(t *testing.T) {
		r := h.do(t, "GET", "/files?path=a.txt", "", nil, nil)
		if r.status != 200 || string(r.raw) != "alpha" || r.header.Get("Content-Disposition") != `inline; filename=a.txt` {
			t.Errorf("read: %d %q %v", r.status, r.raw, r.header)
		}
		r = h.do(t, "GET", "/files?path=/home/user/c.txt", "", nil, nil)
		if r.status != 200 || len(r.raw) != 0 || r.header.Get("Content-Length") != "0" {
			t.Errorf("empty file: %d %q Content-Length %q", r.status, r.raw, r.header.Get("Content-Length"))
		}
		r = h.do(t, "GET", "/files?path=a.txt", "", nil, map[string]string{"Range": "bytes=1-3"})
		if r.status != 206 || string(r.raw) != "lph" {
			t.Errorf("range: %d %q", r.status, r.raw)
		}
	})
	t.Run("download errors", func(t *testing.T) {
		cases := []struct {
			name, query string
			status      int
			inMsg       string
		}{
			{"missing", "?path=/nope.txt", 404, "/nope.txt"},
			{"directory", "?path=/tmp", 400, "directory"},
			{"unknown user", "?path=/etc/passwd&username=nobody", 401, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := h.do(t, "GET", "/files"+tc.query, "", nil, nil)
				if r.status != tc.status || r.body["code"] != float64(tc.status) || !strings.Contains(r.body["message"].(string), tc.inMsg) {
					t.Errorf("got %d %s, want %d with %q", r.status, r.raw, tc.status, tc.inMsg)
				}
			})
		}
	})
}

// ".." and absolute symlinks stay inside the sandbox's root.
func TestPathsStayInside(t *testing.T) {
	h := newHarness(t)
	r := h.do(t, "GET", "/files?path=../../etc/passwd", "", nil, nil)
	if r.status != 200 || !strings.Contains(string(r.raw), "user:x:1000:1000::/home/user") {
		t.Fatalf("read ../../etc/passwd: %d %q", r.status, r.raw)
	}
	hostPasswd, _ := os.ReadFile("/etc/passwd")
	if bytes.Equal(r.raw, hostPasswd) {
		t.Fatal("read the host's /etc/passwd")
	}
	if err := os.Symlink("/../../../../etc", filepath.Join(h.root, "home/user/etc-link")); err != nil {
		t.Fatal(err)
	}
	r = h.do(t, "GET", "/files?path=etc-link/group", "", nil, nil)
	if r.status != 200 || string(r.raw) != "root:x:0:\nuser:x:1000:\n" {
		t.Errorf("through an absolute symlink: %d %q", r.status, r.raw)
	}
	w := h.do(t, "POST", "/files?path=../../../../escape.txt", "application/octet-stream", strings.NewReader("x"), nil)
	if w.status != 200 || !strings.Contains(string(w.raw), `"path":"/escape.txt"`) {
		t.Errorf("write ../../../../escape.txt: %d %s", w.status, w.raw)
	}
	if _, err := os.Stat(filepath.Join(h.root, "escape.txt")); err != nil {
		t.Errorf("not written inside the root: %v", err)
	}
}
