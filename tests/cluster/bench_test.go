package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapgate/snapgate/tests/testregistry"
)

// TestClusterBench prints the cluster figures of `make bench` (it runs only
// with SNAPGATE_CLUSTER_BENCH=1): a sandbox start on a node that lacks the
// snapshot (pull from the snapshot registry + unpack + start) against one
// where it is cached, and API throughput through two nodes against one.
// Both nodes share this machine's CPUs, so the throughput ratio shows what
// a second node costs or gains here, not on separate machines.
func TestClusterBench(t *testing.T) {
	if os.Getenv("SNAPGATE_CLUSTER_BENCH") != "1" {
		t.Skip("figures only: set SNAPGATE_CLUSTER_BENCH=1 (make bench does)")
	}
	cl := startCluster(t)
	a, b := cl.nodes[0], cl.nodes[1]
	const runs = 5
	var cold, warm []time.Duration
	var keep, snapID string
	for i := range runs {
		// Content of its own per run, so node b never has it.
		img, err := testregistry.BusyboxImage(testregistry.WithFile(fmt.Sprintf("/bench/run-%d-%d", i, time.Now().UnixNano()), []byte("x")))
		if err != nil {
			t.Fatal(err)
		}
		tag := fmt.Sprintf("run%d", i)
		if _, err := cl.reg.Push(t.Context(), "bench", tag, img); err != nil {
			t.Fatal(err)
		}
		snap := call(t, a.url, "POST", lsPrefix+"/snapshots", map[string]any{
			"name": "bench-" + tag, "docker_image": cl.reg.Ref("bench", tag), "fs_capacity_bytes": 1 << 30,
		}, http.StatusCreated)
		waitSnapshotReady(t, a.url, snap["id"].(string))
		snapID = snap["id"].(string)
		for j, into := range []*[]time.Duration{&cold, &warm} {
			start := time.Now()
			box := callHere(t, b.url, "POST", lsPrefix+"/boxes", map[string]any{"snapshot_id": snap["id"], "name": fmt.Sprintf("b-%d-%d", i, j)})
			*into = append(*into, time.Since(start))
			wantNode(t, cl.db, box["id"].(string), "b")
			if i == 0 && j == 0 {
				keep = box["id"].(string) // for the forwarding figure below
				continue
			}
			callHere(t, b.url, "DELETE", lsPrefix+"/boxes/"+box["name"].(string), nil)
		}
	}
	t.Logf("sandbox start on node b, snapshot not there (pull from the registry) p50 %s (runs %v)", median(cold), cold)
	t.Logf("sandbox start on node b, snapshot cached p50 %s (runs %v)", median(warm), warm)

	path := lsPrefix + "/snapshots/" + snapID
	one := throughput(t, []string{a.url + path}, 16, 3*time.Second)
	two := throughput(t, []string{a.url + path, b.url + path}, 16, 3*time.Second)
	t.Logf("GET /snapshots/{id}, 16 clients: one node %.0f req/s, two nodes %.0f req/s, ratio %.2f", one, two, two/one)

	direct := latency(t, b.url+"/sandboxes/"+keep, 200)
	forwarded := latency(t, a.url+"/sandboxes/"+keep, 200)
	t.Logf("E2B GET /sandboxes/{id} p50: at the owning node %s, at the other node (forwarded) %s", direct, forwarded)
}

// callHere is call with the forwarded mark set, so the node answers
// itself: the bench chooses the node, not placement.
func callHere(t *testing.T, base, method, path string, body any) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Snapgate-Forwarded", "bench")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s%s: %d %s", method, base, path, resp.StatusCode, raw)
	}
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return out
}

// throughput is successful GETs per second from clients keep-alive clients
// spread over urls for d.
func throughput(t *testing.T, urls []string, clients int, d time.Duration) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	for i := range clients {
		u := urls[i%len(urls)]
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
				req.Header.Set("X-Api-Key", apiKey)
				resp, err := hc.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Errorf("%d GETs failed", bad.Load())
	}
	return float64(ok.Load()) / d.Seconds()
}

// latency is the median of n sequential GETs of u.
func latency(t *testing.T, u string, n int) time.Duration {
	t.Helper()
	var ds []time.Duration
	for range n {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		req.Header.Set("X-Api-Key", apiKey)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", u, resp.StatusCode)
		}
		ds = append(ds, time.Since(start))
	}
	return median(ds)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond / 10)
}
