package envd

import (
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
)

// doBounded is h.do with a deadline: a server that opened a FIFO would
// hang the request, which must fail the test rather than the run.
func (h *harness) doBounded(t *testing.T, method, path, ct string, body io.Reader, extra map[string]string) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	return h.doCtx(t, ctx, method, path, ct, body, extra)
}

// Every /files route (token and signed URL, read and write) answers a
// FIFO, a socket, a device node or a proc file with envd's 400 naming the
// path and what it is: never a hang, a 500 or the content. Stat and
// ListDir still describe them (metadata).
func TestFilesRefuseSpecialNodes(t *testing.T) {
	h := newHarness(t)
	nodes := coretest.MakeHostileNodes(t, h.root)
	root := map[string]string{"X-Access-Token": ""}
	for _, n := range nodes {
		q := url.QueryEscape(n.Path)
		readSig := url.QueryEscape(core.SignFile(core.FileSignature{Path: n.Path, Operation: "read", User: "root"}, h.token))
		writeSig := url.QueryEscape(core.SignFile(core.FileSignature{Path: n.Path, Operation: "write", User: "root"}, h.token))
		ct, body := multipartBody(t, [][2]string{{"x", "overwrite"}})
		ct2, body2 := multipartBody(t, [][2]string{{"x", "overwrite"}})
		for name, r := range map[string]reply{
			"GET":         h.doBounded(t, "GET", "/files?username=root&path="+q, "", nil, nil),
			"POST":        h.doBounded(t, "POST", "/files?username=root&path="+q, ct, body, nil),
			"signed GET":  h.doBounded(t, "GET", "/files?username=root&path="+q+"&signature="+readSig, "", nil, root),
			"signed POST": h.doBounded(t, "POST", "/files?username=root&path="+q+"&signature="+writeSig, ct2, body2, root),
		} {
			msg, _ := r.body["message"].(string)
			if r.status != 400 || !strings.Contains(msg, n.Path) || !strings.Contains(msg, n.Kind) {
				t.Errorf("%s %s: %d %s; want 400 naming the path and %q", name, n.Path, r.status, r.raw, n.Kind)
			}
		}
		if r := h.unary(t, "filesystem.Filesystem/Stat", `{"path":"`+n.Path+`"}`, map[string]string{"Authorization": ""}); r.status != 200 {
			t.Errorf("Stat %s: %d %s", n.Path, r.status, r.raw)
		}
	}
	if r := h.unary(t, "filesystem.Filesystem/ListDir", `{"path":"`+coretest.HostileDir+`"}`, nil); r.status != 200 || !strings.Contains(string(r.raw), "fifo") {
		t.Errorf("ListDir: %d %s", r.status, r.raw)
	}
	if fi, err := os.Lstat(filepath.Join(h.root, coretest.HostileDir, "fifo")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO after refused uploads: %v, %v", fi, err)
	}
}
