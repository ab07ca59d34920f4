package langsmith

import (
	"bytes"
	"crypto/sha256"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/specs"
)

// dataplaneEnv is a served adapter with a dataplane and one ready box of
// tenant A.
type dataplaneEnv struct {
	srv        *httptest.Server
	env        *adaptertest.Env
	dp         string // the box's dataplane_url
	name, id   string
	keyA, keyB string
}

// rootfs is the host directory holding the box's files (the fake engine's).
func (e *dataplaneEnv) rootfs() string { return filepath.Join(e.env.DataEngine.Dir, e.id) }

func newDataplaneEnv(t *testing.T) *dataplaneEnv {
	t.Helper()
	env := adaptertest.New(t)
	spec, err := specs.LangSmith(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Snapshots: env.Snapshots, Sandboxes: env.Sandboxes, Registries: env.Registries,
		Keys: env.Keys, Spec: spec, Logger: discardLogger(), Validate: true, Dataplane: env.Dataplane, ServiceURLs: env.ServiceURLs})
	if err != nil {
		t.Fatal(err)
	}
	srv := adaptertest.Serve(t, a.Mount, adaptertest.ValidateResponses(spec))
	box := call(t, srv, "POST", "/api/v2/sandboxes/boxes", env.KeyA, `{"wait_for_ready":true,"timeout":30,"name":"dp-box"}`)
	if box.status != 201 {
		t.Fatalf("create box: %d %v", box.status, box.body)
	}
	return &dataplaneEnv{srv: srv, env: env, dp: box.body["dataplane_url"].(string), name: "dp-box",
		id: box.body["id"].(string), keyA: env.KeyA, keyB: env.KeyB}
}

// do sends a request to the dataplane (path relative to dataplane_url).
func (e *dataplaneEnv) do(t *testing.T, method, path, key string, body io.Reader, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.dp+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDataplaneExecute(t *testing.T) {
	e := newDataplaneEnv(t)
	named := e.srv.URL + "/dataplane/" + e.name
	cases := []struct {
		name, base, key, body string
		status                int
		want                  string // substring of the body
	}{
		{"output and exit code", "", e.keyA, `{"command":"echo out; echo err >&2; exit 3"}`, 200,
			`{"exit_code":3,"stderr":"err\n","stdout":"out\n"}`},
		{"env", "", e.keyA, `{"command":"echo $GREETING","env":{"GREETING":"hi"}}`, 200, `"stdout":"hi\n"`},
		{"run_config env", "", e.keyA, `{"command":"echo $A","run_config":{"env_vars":{"A":"b"}}}`, 200, `"stdout":"b\n"`},
		{"missing command exits 127", "", e.keyA, `{"command":"no-such-command-snapgate"}`, 200, `"exit_code":127`},
		{"timeout kills with a command error", "", e.keyA, `{"command":"sleep 20","timeout":0.3}`, 408,
			`"error":"CommandError"`},
		{"run_config with env is refused", "", e.keyA, `{"command":"true","env":{},"run_config":{}}`, 400,
			`"error":"CommandError"`},
		{"a missing cwd is a command error", "", e.keyA, `{"command":"true","cwd":"/no/such/dir"}`, 400,
			`"error":"CommandError"`},
		{"validation: command is required", "", e.keyA, `{"shell":"/bin/sh"}`, 400, `"error":"CommandError"`},
		{"no key", "", "", `{"command":"true"}`, 403, `"error":"Forbidden"`},
		{"another tenant's box is not found", "", e.keyB, `{"command":"echo pwned"}`, 404, `"error":"NotFound"`},
		{"by name", named, e.keyA, `{"command":"echo named"}`, 200, `"stdout":"named\n"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := tc.base
			if base == "" {
				base = e.dp
			}
			req, _ := http.NewRequestWithContext(t.Context(), "POST", base+"/execute", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.key != "" {
				req.Header.Set("X-Api-Key", tc.key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body := readAll(t, resp)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %s, want %d with %s", resp.StatusCode, body, tc.status, tc.want)
			}
		})
	}
}

// multipartBody streams a multipart body with part "file" from src.
func multipartBody(src io.Reader) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", "file")
		if err == nil {
			_, err = io.Copy(part, src)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, mw.FormDataContentType()
}

func (e *dataplaneEnv) upload(t *testing.T, path string, content io.Reader) *http.Response {
	t.Helper()
	body, ct := multipartBody(content)
	return e.do(t, "POST", "/upload?path="+path, e.keyA, body, "Content-Type", ct)
}

func TestDataplaneUploadDownload(t *testing.T) {
	e := newDataplaneEnv(t)
	if resp := e.upload(t, "/tmp/dir/hello.txt", strings.NewReader("hello, world")); resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, readAll(t, resp))
	}
	if got, _ := os.ReadFile(filepath.Join(e.rootfs(), "tmp/dir/hello.txt")); string(got) != "hello, world" {
		t.Fatalf("file in the box = %q", got)
	}
	get := e.do(t, "GET", "/download?path=/tmp/dir/hello.txt", e.keyA, nil)
	etag := get.Header.Get("ETag")
	if body := readAll(t, get); get.StatusCode != 200 || body != "hello, world" || etag == "" || get.Header.Get("Last-Modified") == "" {
		t.Fatalf("download: %d %q etag=%q", get.StatusCode, body, etag)
	}
	cases := []struct {
		name, method, path, key string
		header                  []string
		status                  int
		want                    string
	}{
		{"head", "HEAD", "/download?path=/tmp/dir/hello.txt", e.keyA, nil, 200, ""},
		{"range", "GET", "/download?path=/tmp/dir/hello.txt", e.keyA, []string{"Range", "bytes=7-"}, 206, "world"},
		{"suffix range", "GET", "/download?path=/tmp/dir/hello.txt", e.keyA, []string{"Range", "bytes=-5"}, 206, "world"},
		{"if-none-match", "GET", "/download?path=/tmp/dir/hello.txt", e.keyA, []string{"If-None-Match", etag}, 304, ""},
		{"stale if-range", "GET", "/download?path=/tmp/dir/hello.txt", e.keyA, []string{"Range", "bytes=7-", "If-Range", `"old"`}, 200, "hello, world"},
		{"range past the end", "GET", "/download?path=/tmp/dir/hello.txt", e.keyA, []string{"Range", "bytes=100-"}, 416, ""},
		{"relative to home", "GET", "/download?path=../../tmp/dir/hello.txt", e.keyA, nil, 200, "hello, world"},
		{"missing file", "GET", "/download?path=/tmp/nope", e.keyA, nil, 404, `"error":"FileNotFound"`},
		{"a directory", "GET", "/download?path=/tmp", e.keyA, nil, 400, `"error":"ReadError"`},
		{"no path", "GET", "/download", e.keyA, nil, 400, `"error":"ReadError"`},
		{"'..' stays inside", "GET", "/download?path=../../../../../../etc/passwd", e.keyA, nil, 200, "user:x:"},
		{"another tenant", "GET", "/download?path=/tmp/dir/hello.txt", e.keyB, nil, 404, `"error":"NotFound"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := e.do(t, tc.method, tc.path, tc.key, nil, tc.header...)
			if body := readAll(t, resp); resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %q, want %d with %q", resp.StatusCode, body, tc.status, tc.want)
			}
		})
	}
	t.Run("upload errors", func(t *testing.T) {
		if resp := e.upload(t, "/tmp/dir", strings.NewReader("x")); resp.StatusCode != 400 || !strings.Contains(readAll(t, resp), `"WriteError"`) {
			t.Errorf("upload onto a directory: %d", resp.StatusCode)
		}
		resp := e.do(t, "POST", "/upload?path=/tmp/x", e.keyA, strings.NewReader("--b--\r\n"), "Content-Type", "multipart/form-data; boundary=b")
		if body := readAll(t, resp); resp.StatusCode != 400 || !strings.Contains(body, `no part named \"file\"`) {
			t.Errorf("upload without a file part: %d %s", resp.StatusCode, body)
		}
	})
}

// A symlink pointing out of the box is resolved inside it: a host file it
// names is never read or written.
func TestDataplaneSymlinkOutOfTheBox(t *testing.T) {
	e := newDataplaneEnv(t)
	e.upload(t, "/tmp/first", strings.NewReader("makes the box's files")) // the fake engine makes them lazily
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{"abs": secret, "rel": strings.Repeat("../", 30) + secret}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(e.rootfs(), "tmp", name)); err != nil {
			t.Fatal(err)
		}
	}
	for name := range links {
		resp := e.do(t, "GET", "/download?path=/tmp/"+name, e.keyA, nil)
		if body := readAll(t, resp); strings.Contains(body, "host secret") || resp.StatusCode != 404 {
			t.Errorf("%s link: %d %q", name, resp.StatusCode, body)
		}
	}
	for name := range links {
		e.upload(t, "/tmp/"+name, strings.NewReader("overwritten"))
		if got, _ := os.ReadFile(secret); string(got) != "host secret" {
			t.Fatalf("%s link: the host file was written: %q", name, got)
		}
	}
}

// A 100 MiB upload is streamed into the box: the test process (client and
// server) allocates far less than the file's size.
func TestDataplaneUploadStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB upload")
	}
	e := newDataplaneEnv(t)
	const size = 100 << 20
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	src := io.LimitReader(repeatReader(chunk), size)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	resp := e.upload(t, "/tmp/big.bin", src)
	runtime.ReadMemStats(&after)
	if resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, readAll(t, resp))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Errorf("uploading %d bytes allocated %d bytes: the body was buffered", size, alloc)
	}
	f, err := os.Open(filepath.Join(e.rootfs(), "tmp/big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, want := sha256.New(), sha256.New()
	n, _ := io.Copy(got, f)
	io.Copy(want, io.LimitReader(repeatReader(chunk), size))
	if n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Errorf("file in the box: %d bytes, content differs: %v", n, !bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
}

// repeatReader repeats b forever.
func repeatReader(b []byte) io.Reader { return &cycle{b: b} }

type cycle struct {
	b   []byte
	off int
}

func (c *cycle) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], c.b[c.off:])
		n += m
		c.off = (c.off + m) % len(c.b)
	}
	return n, nil
}
