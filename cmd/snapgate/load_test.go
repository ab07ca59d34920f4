package main

// Load: many concurrent snapshot creates of one image, many
// concurrent sandbox creates from one snapshot, and list/get under 64
// concurrent clients, with goroutine, fd and heap checks around it all.
// Durations are logged only: the machine running make test is shared.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/snapgate/snapgate/tests/testenv"
	"github.com/snapgate/snapgate/tests/testregistry"
)

const (
	loadSnapshots = 200
	loadSandboxes = 50
	loadClients   = 64
	loadListGet   = 20 * time.Second // the 60 s run is snapbench's job
)

// loadClient is goroutine-safe: it returns errors instead of t.Fatal.
type loadClient struct {
	base, key string
	c         *http.Client
	inflight  atomic.Int64
	peak      atomic.Int64
}

func (l *loadClient) do(method, path, body string) (int, map[string]any, error) {
	n := l.inflight.Add(1)
	defer l.inflight.Add(-1)
	for {
		p := l.peak.Load()
		if n <= p || l.peak.CompareAndSwap(p, n) {
			break
		}
	}
	req, err := http.NewRequest(method, l.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Api-Key", l.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, nil
}

// resetPeak starts a new phase's peak-concurrency count.
func (l *loadClient) resetPeak() int64 { return l.peak.Swap(0) }

type procStats struct {
	goroutines, fds int
	heap            uint64
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count fds: %v", err)
	}
	return len(ents)
}

// settle closes idle client connections and waits until the goroutine
// count stops falling, then samples goroutines, fds and heap in use.
func settle(t *testing.T, c *http.Client) procStats {
	c.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
	prev, stable := runtime.NumGoroutine(), 0
	for i := 0; i < 100 && stable < 5; i++ { // up to ~10 s
		time.Sleep(100 * time.Millisecond)
		c.CloseIdleConnections()
		n := runtime.NumGoroutine()
		if n >= prev {
			stable++
		} else {
			stable = 0
		}
		prev = n
	}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return procStats{goroutines: runtime.NumGoroutine(), fds: openFDs(t), heap: ms.HeapInuse}
}

// containersLeft lists the namespace's containers other than warm-pool ones.
func (h *harness) containersLeft(t *testing.T) []string {
	c, err := containerd.New(h.cfg.ContainerdAddress)
	if err != nil {
		t.Fatalf("containerd: %v", err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), h.cfg.ContainerdNamespace)
	cs, err := c.Containers(ctx)
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	var out []string
	for _, ct := range cs {
		labels, err := ct.Labels(ctx)
		if err == nil && labels["snapgate/warm-image"] != "" {
			continue
		}
		out = append(out, ct.ID())
	}
	return out
}

func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: skipped under -short")
	}
	dir := t.TempDir()
	h := newHarness(t, filepath.Join(dir, "snapgate.db"), dir)
	// Scheduling capacity only: busybox sandboxes use next to nothing, the
	// node's real memory would refuse 50 sandboxes of the default size.
	h.cfg.Node.VCPUs = 4 * loadSandboxes
	h.cfg.Node.MemoryBytes = 1 << 40
	h.cfg.WarmPool = 0 // no idle warm containers to tell apart
	// Slow-query warnings are expected on this loaded machine: keep the
	// log to what matters.
	h.logger = slog.New(dropSlowSQL{slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})})
	h.start(true)
	lc := &loadClient{base: h.http.URL, key: h.key, c: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: loadClients, MaxConnsPerHost: 0},
		Timeout:   5 * time.Minute,
	}}
	defer lc.c.CloseIdleConnections()

	// Warm up every code path once so lazily started goroutines (pools,
	// caches, gRPC streams) are in the baseline, then measure.
	// The warm-up uses an image of its own: the load's image must be
	// fetched by the load's creates, once.
	warmImg, err := testregistry.BusyboxImage(testregistry.WithFile("/etc/test-id", []byte("warm-up "+t.Name()+testenv.RandomSuffix())))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.reg.Push(t.Context(), "warmup", "latest", warmImg); err != nil {
		t.Fatal(err)
	}
	warm := h.wait(h.create("load-warmup", h.reg.Ref("warmup", "latest"), 1<<30))
	if warm["status"] != "ready" {
		t.Fatalf("warm-up snapshot: %v", warm)
	}
	sb := h.e2bCreate(warm["id"].(string))
	if code, _ := h.do("GET", "/sandboxes/"+sb, ""); code != 200 {
		t.Fatalf("get warm-up sandbox: %d", code)
	}
	if code, _ := h.do("DELETE", "/sandboxes/"+sb, ""); code != 204 {
		t.Fatalf("kill warm-up sandbox: %d", code)
	}
	h.do("GET", "/api/v2/sandboxes/snapshots", "")
	h.do("GET", "/v2/sandboxes", "")
	h.reg.ResetCounts()
	before := settle(t, lc.c)
	t.Logf("before: goroutines %d, fds %d, heap in use %.1f MiB", before.goroutines, before.fds, float64(before.heap)/(1<<20))

	// 1. Snapshot creates of one image: one fetch of each blob.
	start := time.Now()
	ids := make([]string, loadSnapshots)
	errs := make(chan error, 2*loadSnapshots)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range loadSnapshots {
		wg.Go(func() {
			<-gate
			body := fmt.Sprintf(`{"name":"load-%03d","docker_image":%q,"fs_capacity_bytes":%d}`, i, h.image, 1<<30)
			code, out, err := lc.do("POST", "/api/v2/sandboxes/snapshots", body)
			if err != nil || code != 201 || out["status"] != "building" {
				errs <- fmt.Errorf("create load-%03d: %d %v %v", i, code, out, err)
				return
			}
			ids[i] = out["id"].(string)
		})
	}
	close(gate)
	wg.Wait()
	peakCreates := lc.resetPeak()
	t.Logf("%d snapshot creates answered in %s (peak %d requests in flight)", loadSnapshots, time.Since(start), peakCreates)
	failIf(t, errs)
	for _, id := range ids {
		wg.Go(func() {
			deadline := time.Now().Add(3 * time.Minute)
			for time.Now().Before(deadline) {
				code, out, err := lc.do("GET", "/api/v2/sandboxes/snapshots/"+id, "")
				if err != nil || code != 200 {
					errs <- fmt.Errorf("get %s: %d %v %v", id, code, out, err)
					return
				}
				switch out["status"] {
				case "ready":
					return
				case "building":
					time.Sleep(500 * time.Millisecond)
				default:
					errs <- fmt.Errorf("snapshot %s: %v", id, out)
					return
				}
			}
			errs <- fmt.Errorf("snapshot %s still building after 3 min", id)
		})
	}
	wg.Wait()
	lc.resetPeak()
	t.Logf("%d snapshots ready %s after the first create", loadSnapshots, time.Since(start))
	failIf(t, errs)
	for _, l := range h.layers {
		if n := h.reg.BlobGets(l.String()); n != 1 {
			t.Errorf("layer %s fetched %d times, want 1", l, n)
		}
	}
	gets := h.reg.BlobGetCounts()
	t.Logf("registry blob GETs: %v", gets)
	for d, n := range gets { // the config blob too
		if n != 1 {
			t.Errorf("blob %s fetched %d times, want 1", d, n)
		}
	}

	// 2. Sandbox creates from one snapshot: all run, all killed, none left.
	start = time.Now()
	sbs := make([]string, loadSandboxes)
	gate = make(chan struct{})
	for i := range loadSandboxes {
		wg.Go(func() {
			<-gate
			code, out, err := lc.do("POST", "/sandboxes", `{"templateID":"`+ids[0]+`","timeout":300}`)
			if err != nil || code != 201 {
				errs <- fmt.Errorf("create sandbox %d: %d %v %v", i, code, out, err)
				return
			}
			sbs[i] = out["sandboxID"].(string)
		})
	}
	close(gate)
	wg.Wait()
	peakSandboxes := lc.resetPeak()
	t.Logf("%d sandbox creates answered in %s (peak %d requests in flight)", loadSandboxes, time.Since(start), peakSandboxes)
	t.Cleanup(func() { // if an assertion below stops the test early
		for _, id := range sbs {
			if id != "" {
				_ = h.srv.engine.KillSandbox(context.Background(), id)
			}
		}
	})
	failIf(t, errs)
	for _, id := range sbs {
		wg.Go(func() {
			code, out, err := lc.do("GET", "/sandboxes/"+id, "")
			if err != nil || code != 200 || out["state"] != "running" {
				errs <- fmt.Errorf("sandbox %s: %d %v %v", id, code, out, err)
			}
		})
	}
	wg.Wait()
	failIf(t, errs)
	if left := h.containersLeft(t); len(left) != loadSandboxes {
		t.Errorf("containerd holds %d containers while %d sandboxes run", len(left), loadSandboxes)
	}
	start = time.Now()
	for _, id := range sbs {
		wg.Go(func() {
			code, out, err := lc.do("DELETE", "/sandboxes/"+id, "")
			if err != nil || code != 204 {
				errs <- fmt.Errorf("kill %s: %d %v %v", id, code, out, err)
			}
		})
	}
	wg.Wait()
	t.Logf("%d sandboxes killed in %s", loadSandboxes, time.Since(start))
	failIf(t, errs)
	if left := h.containersLeft(t); len(left) != 0 {
		t.Errorf("containerd still holds %d containers after every sandbox was killed: %v", len(left), left)
	}
	for _, id := range sbs {
		if code, out, _ := lc.do("GET", "/sandboxes/"+id, ""); code != 404 {
			t.Errorf("killed sandbox %s: %d %v", id, code, out)
		}
	}
	lc.resetPeak()

	// 3. list/get under 64 concurrent clients for a bounded time.
	paths := []string{
		"/api/v2/sandboxes/snapshots",
		"/api/v2/sandboxes/snapshots?limit=200",
		"/api/v2/sandboxes/snapshots/" + ids[7],
		"/api/v2/sandboxes/snapshots/load-042",
		"/v2/sandboxes",
		"/api/v2/sandboxes/boxes",
	}
	var requests, failures atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), loadListGet)
	gate = make(chan struct{})
	for c := range loadClients {
		wg.Go(func() {
			<-gate
			for i := c; ctx.Err() == nil; i++ {
				p := paths[i%len(paths)]
				code, out, err := lc.do("GET", p, "")
				requests.Add(1)
				if err != nil || code != 200 {
					if failures.Add(1) <= 10 {
						errs <- fmt.Errorf("GET %s: %d %v %v", p, code, out, err)
					}
				}
			}
		})
	}
	start = time.Now()
	close(gate)
	wg.Wait()
	cancel()
	el := time.Since(start)
	peakListGet := lc.resetPeak()
	t.Logf("list/get: %d requests from %d clients in %s (%.0f/s), %d failed, peak %d in flight",
		requests.Load(), loadClients, el.Round(time.Millisecond), float64(requests.Load())/el.Seconds(), failures.Load(), peakListGet)
	failIf(t, errs)

	// Leaks: the same process after all of it.
	after := settle(t, lc.c)
	t.Logf("after: goroutines %d, fds %d, heap in use %.1f MiB", after.goroutines, after.fds, float64(after.heap)/(1<<20))
	t.Logf("peak concurrency held: %d snapshot creates, %d sandbox creates (%d sandboxes running), %d list/get clients",
		peakCreates, peakSandboxes, loadSandboxes, peakListGet)
	if after.goroutines > before.goroutines+10 {
		t.Errorf("goroutines %d -> %d: leak\n%s", before.goroutines, after.goroutines, goroutineDump())
	}
	if after.fds > before.fds+5 {
		t.Errorf("open fds %d -> %d: leak\n%s", before.fds, after.fds, fdList())
	}
	if after.heap > 2*before.heap+64<<20 {
		t.Errorf("heap in use %d -> %d bytes: not flat", before.heap, after.heap)
	}
}

type dropSlowSQL struct{ slog.Handler }

func (d dropSlowSQL) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "SQL executed" {
		return nil
	}
	return d.Handler.Handle(ctx, r)
}

func (d dropSlowSQL) WithAttrs(as []slog.Attr) slog.Handler {
	return dropSlowSQL{d.Handler.WithAttrs(as)}
}

func (d dropSlowSQL) WithGroup(g string) slog.Handler { return dropSlowSQL{d.Handler.WithGroup(g)} }

func failIf(t *testing.T, errs chan error) {
	t.Helper()
	n := 0
	for {
		select {
		case err := <-errs:
			if n++; n <= 20 {
				t.Error(err)
			}
		default:
			if n > 0 {
				t.FailNow()
			}
			return
		}
	}
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func fdList() string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var b strings.Builder
	for _, e := range ents {
		dst, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		fmt.Fprintf(&b, "%s -> %s\n", e.Name(), dst)
	}
	return b.String()
}
