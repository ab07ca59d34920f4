package langsmith

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core/coretest"
)

// doBounded is e.do with a deadline and the body read: a server that
// opened a FIFO would hang the request, which must fail the test.
func (e *dataplaneEnv) doBounded(t *testing.T, method, path string, body io.Reader, header ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.dp+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", e.keyA)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v (hung?)", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v (hung?)", method, path, err)
	}
	return resp.StatusCode, string(raw)
}

// /download and /upload answer a FIFO, a socket, a device node or a proc
// file with the dataplane's 400 (ReadError/WriteError) naming the path
// and what it is, never a hang or a 500; an upload onto a FIFO a process
// reads never opens it; /glob and /grep walk past such nodes.
func TestDataplaneRefusesSpecialNodes(t *testing.T) {
	e := newDataplaneEnv(t)
	nodes := coretest.MakeHostileNodes(t, e.rootfs())
	writerCame := coretest.FIFOReader(t, filepath.Join(e.rootfs(), coretest.HostileDir, "fifo"))
	for _, n := range nodes {
		q := url.QueryEscape(n.Path)
		status, raw := e.doBounded(t, "GET", "/download?path="+q, nil)
		if status != 400 || !strings.Contains(raw, `"ReadError"`) || !strings.Contains(raw, n.Path) || !strings.Contains(raw, n.Kind) {
			t.Errorf("download %s: %d %s; want 400 ReadError naming the path and %q", n.Path, status, raw, n.Kind)
		}
		body, ct := multipartBody(strings.NewReader("overwrite"))
		status, raw = e.doBounded(t, "POST", "/upload?path="+q, body, "Content-Type", ct)
		if status != 400 || !strings.Contains(raw, `"WriteError"`) || !strings.Contains(raw, n.Path) || !strings.Contains(raw, n.Kind) {
			t.Errorf("upload %s: %d %s; want 400 WriteError naming the path and %q", n.Path, status, raw, n.Kind)
		}
	}
	if writerCame() {
		t.Errorf("an upload opened the FIFO for writing")
	}
	if fi, err := os.Lstat(filepath.Join(e.rootfs(), coretest.HostileDir, "fifo")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO after refused uploads: %v, %v", fi, err)
	}
	if resp := e.upload(t, coretest.HostileDir+"/a.txt", strings.NewReader("a needle\n")); resp.StatusCode != 200 {
		t.Fatalf("upload a.txt: %d", resp.StatusCode)
	}
	status, raw := e.doBounded(t, "POST", "/grep", strings.NewReader(`{"pattern":"needle","path":"`+coretest.HostileDir+`"}`), "Content-Type", "application/json")
	if status != 200 || strings.Count(raw, `"path"`) != 1 || !strings.Contains(raw, coretest.HostileDir+"/a.txt") {
		t.Errorf("grep: %d %s; want the one match in a.txt", status, raw)
	}
	status, raw = e.doBounded(t, "POST", "/glob", strings.NewReader(`{"pattern":"*","path":"`+coretest.HostileDir+`"}`), "Content-Type", "application/json")
	if status != 200 || strings.Count(raw, `"path"`) != 1 || !strings.Contains(raw, coretest.HostileDir+"/a.txt") {
		t.Errorf("glob: %d %s; want a.txt only", status, raw)
	}
}
