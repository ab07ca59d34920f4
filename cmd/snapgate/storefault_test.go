package main

// Storage faults: Postgres unreachable for a while under a
// running server, and a build bigger than its snapshot's disk. The machine's
// Postgres is shared, so it is never restarted: the server reaches it
// through an in-process TCP proxy the test cuts and restores.

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine"
	"github.com/snapgate/snapgate/tests/testenv"
)

// faultProxy forwards TCP connections to target until cut. Cut closes every
// proxied connection and then blackholes new ones: they are accepted and
// never answered (the worst case for a client: no refusal to fail fast
// on), until restore closes them and forwarding resumes.
type faultProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup // accept loop and forwarders, waited at cleanup

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{} // proxied (both ends) and held ones
	held  int                   // connections accepted while cut
}

func startFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		if p.cut {
			p.held++
			p.mu.Unlock()
			continue // blackholed: held open, never read or answered
		}
		p.mu.Unlock()
		p.wg.Go(func() { p.forward(c) })
	}
}

func (p *faultProxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		up.Close()
		p.drop(c)
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) { _, _ = io.Copy(dst, src); done <- struct{}{} }
	go pipe(up, c)
	go pipe(c, up)
	<-done
	p.drop(c)
	p.drop(up)
	<-done
}

func (p *faultProxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *faultProxy) closeAll() {
	p.mu.Lock()
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	clear(p.conns)
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// setCut cuts (true) or restores (false) the database link. Both close every
// connection: the proxied ones die with the cut, the held ones with the
// restore, so clients see their attempt fail and dial again.
func (p *faultProxy) setCut(cut bool) {
	p.mu.Lock()
	p.cut = cut
	p.mu.Unlock()
	p.closeAll()
}

func (p *faultProxy) heldCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// outageBound is how long one request may take while the database is
// unreachable: generous for a loaded machine, far below a client timeout.
const outageBound = 15 * time.Second

func TestPostgresOutage(t *testing.T) {
	dbURL := testenv.Postgres(t)
	proxy := startFaultProxy(t, "127.0.0.1:5432")
	dir := t.TempDir()
	h := newHarness(t, strings.Replace(dbURL, "127.0.0.1:5432", proxy.addr(), 1), dir)
	h.start(true)

	// Before: a ready snapshot and a sandbox, so reads have something to find.
	snap := h.wait(h.create("before-outage", h.image, 1<<30))
	if snap["status"] != "ready" {
		t.Fatalf("snapshot before outage: %v", snap)
	}
	snapID := snap["id"].(string)
	box := h.e2bCreate(snapID)
	if code, _ := h.do("GET", "/readyz", ""); code != 200 {
		t.Fatalf("readyz before outage = %d", code)
	}

	type call struct{ vendor, method, path, body string }
	lsCreate, _ := json.Marshal(map[string]any{"name": "during-outage", "docker_image": h.image, "fs_capacity_bytes": 1 << 30})
	calls := []call{
		{"langsmith", "GET", "/api/v2/sandboxes/snapshots/" + snapID, ""},
		{"langsmith", "POST", "/api/v2/sandboxes/snapshots", string(lsCreate)},
		{"e2b", "GET", "/v2/sandboxes", ""},
		{"e2b", "POST", "/v2/sandboxes", `{"templateID":"` + snapID + `","timeout":300}`},
	}

	proxy.setCut(true)
	t.Log("database link cut")
	for _, c := range calls {
		start := time.Now()
		code, out := h.do(c.method, c.path, c.body)
		took := time.Since(start)
		t.Logf("during outage: %s %s -> %d in %v: %v", c.method, c.path, code, took.Round(time.Millisecond), out)
		if took > outageBound {
			t.Errorf("%s %s took %v while the database was unreachable, want < %v", c.method, c.path, took, outageBound)
		}
		if code != 503 {
			t.Errorf("%s %s = %d %v while the database was unreachable, want 503", c.method, c.path, code, out)
			continue
		}
		switch c.vendor {
		case "langsmith":
			detail, _ := out["detail"].(map[string]any)
			if msg, _ := detail["error"].(string); msg == "" {
				t.Errorf("%s %s: LangSmith error body without detail.error: %v", c.method, c.path, out)
			}
		case "e2b":
			if out["code"] != float64(503) || out["message"] == "" || out["message"] == nil {
				t.Errorf("%s %s: E2B error body not {code:503,message}: %v", c.method, c.path, out)
			}
		}
		if msg := strings.ToLower(func() string { b, _ := json.Marshal(out); return string(b) }()); strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "postgres") {
			t.Errorf("%s %s: error body leaks the database address: %v", c.method, c.path, out)
		}
	}
	start := time.Now()
	if code, out := h.do("GET", "/readyz", ""); code != 503 {
		t.Errorf("readyz during outage = %d %v, want 503", code, out)
	}
	if took := time.Since(start); took > outageBound {
		t.Errorf("readyz took %v during outage", took)
	}
	if code, _ := h.do("GET", "/healthz", ""); code != 200 {
		t.Errorf("healthz during outage = %d, want 200 (liveness must not restart a gateway over its database)", code)
	}
	if proxy.heldCount() == 0 {
		t.Errorf("no connection reached the cut proxy: the outage was not exercised")
	}

	proxy.setCut(false)
	t.Log("database link restored")
	// Recovery without restart: the same calls succeed, within a bound.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _ := h.do("GET", "/readyz", "")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d 30s after the database came back", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, out := h.do("GET", "/api/v2/sandboxes/snapshots/"+snapID, ""); code != 200 || out["id"] != snapID {
		t.Errorf("LangSmith get after restore: %d %v", code, out)
	}
	code, list := h.do("GET", "/api/v2/sandboxes/snapshots", "")
	if code != 200 {
		t.Fatalf("LangSmith list after restore: %d %v", code, list)
	}
	items, _ := list["snapshots"].([]any)
	var names []string
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			names = append(names, m["name"].(string))
		}
	}
	if !slices.Contains(names, "before-outage") || slices.Contains(names, "during-outage") {
		t.Errorf("snapshots after restore = %v: want before-outage and no during-outage (nothing half-written)", names)
	}
	if code, out := h.do("GET", "/api/v2/sandboxes/snapshots/during-outage", ""); code != 404 {
		t.Errorf("snapshot created during the outage: %d %v, want 404", code, out)
	}
	req, _ := http.NewRequest("GET", h.http.URL+"/v2/sandboxes", nil)
	req.Header.Set("X-Api-Key", h.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("E2B list after restore: %d %s", resp.StatusCode, raw)
	}
	var boxes []map[string]any
	if err := json.Unmarshal(raw, &boxes); err != nil {
		t.Fatalf("E2B list: %v: %s", err, raw)
	}
	var ids []string
	for _, b := range boxes {
		ids = append(ids, b["sandboxID"].(string))
	}
	if len(ids) != 1 || ids[0] != box {
		t.Errorf("E2B sandboxes after restore = %v, want only %s (the create during the outage left none)", ids, box)
	}
	// The containerd side: only the pre-outage snapshot's image, and the
	// one pre-outage sandbox's container.
	for _, name := range h.images() {
		if strings.HasPrefix(name, core.ImageRefFor("")) && name != core.ImageRefFor(snapID) {
			t.Errorf("containerd holds image %s that no snapshot points to", name)
		}
	}
	// Creates work again through both APIs, and the new snapshot builds.
	after := h.wait(h.create("after-outage", h.image, 1<<30))
	if after["status"] != "ready" {
		t.Errorf("snapshot created after restore: %v", after)
	}
	box2 := h.e2bCreate(snapID)
	if code, out := h.do("DELETE", "/sandboxes/"+box2, ""); code != 204 {
		t.Errorf("delete sandbox after restore: %d %v", code, out)
	}
	if code, out := h.do("DELETE", "/sandboxes/"+box, ""); code != 204 {
		t.Errorf("delete pre-outage sandbox: %d %v", code, out)
	}
}

// TestBuildOverCapacityGivesSpaceBack is the disk-full case that can run on
// a shared containerd: a build whose image unpacks to more than the
// snapshot's fs_capacity_bytes. (Filling containerd's own filesystem would
// mean moving its root, which other tests share: not done here.) The build
// fails with a reason that says what to change, and what it pulled and
// unpacked is given back: no image, lease, content blob or unpacked
// snapshot stays in the namespace.
func TestBuildOverCapacityGivesSpaceBack(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir+"/snapgate.db", dir)
	h.start(true)
	id := h.create("too-big", h.image, 64<<10)
	got := h.wait(id)
	msg, _ := got["status_message"].(string)
	if got["status"] != "failed" || !strings.Contains(msg, "fs_capacity_bytes") {
		t.Fatalf("over-capacity build: %v, want failed naming fs_capacity_bytes", got)
	}
	if used, _ := got["fs_used_bytes"].(float64); used > 64<<10 {
		t.Errorf("failed build records fs_used_bytes %v beyond its capacity", used)
	}
	if imgs := h.images(); len(imgs) != 0 {
		t.Errorf("failed build left images %v", imgs)
	}
	c, err := containerd.New(h.cfg.ContainerdAddress)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), h.cfg.ContainerdNamespace)
	leftovers := func() []string {
		var left []string
		ls, err := c.LeasesService().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			left = append(left, "lease "+l.ID)
		}
		if err := c.ContentStore().Walk(ctx, func(i content.Info) error {
			left = append(left, "content "+i.Digest.String())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := c.SnapshotService(engine.DefaultSnapshotter).Walk(ctx, func(_ context.Context, i snapshots.Info) error {
			left = append(left, "snapshot "+i.Name)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return left
	}
	// containerd collects garbage after the image delete; give it time.
	var left []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		if left = leftovers(); len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) != 0 {
		t.Errorf("over-capacity build kept %d resources in containerd: %v", len(left), left)
	}
	// Deleting the failed snapshot frees its name to build again with room
	// enough.
	if code, out := h.do("DELETE", "/api/v2/sandboxes/snapshots/"+id, ""); code != 204 {
		t.Fatalf("delete failed snapshot: %d %v", code, out)
	}
	if again := h.wait(h.create("too-big", h.image, 1<<30)); again["status"] != "ready" {
		t.Errorf("rebuild with enough capacity: %v", again)
	}
}
