package e2b

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/core"
)

// sampled sets sandbox id's usage in the fake engine, takes one sample and
// returns its unix second.
func (e *testEnv) sampled(t *testing.T, id string) int64 {
	t.Helper()
	e.env.Engine.SetStats(id, core.SandboxStats{
		CPUTime: 0, MemoryUsed: 100 << 20, MemoryCache: 3 << 20, MemoryLimit: 512 << 20, DiskUsed: 4096, DiskTotal: 1 << 30,
	})
	e.env.Metrics.Sample(t.Context())
	got := e.metrics(t, id, "")
	if len(got) == 0 {
		t.Fatal("no sample after Sample")
	}
	return int64(got[len(got)-1]["timestampUnix"].(float64))
}

// metrics is tenant A's GET /sandboxes/{id}/metrics?query.
func (e *testEnv) metrics(t *testing.T, id, query string) []map[string]any {
	t.Helper()
	r := e.call(t, "GET", "/sandboxes/"+id+"/metrics?"+query, e.keyA, "")
	wantStatus(t, r, 200)
	var out []map[string]any
	if err := json.Unmarshal(r.raw, &out); err != nil {
		t.Fatalf("metrics body %s: %v", r.raw, err)
	}
	return out
}

// A sample carries every field of the SDK's SandboxMetric, with the
// sandbox's usage as the engine read it.
func TestSandboxMetricsShape(t *testing.T) {
	e := newTestEnv(t)
	id := e.create(t, `{"templateID":"img"}`)
	if got := e.metrics(t, id, ""); len(got) != 0 {
		t.Errorf("before any sample: %v, want []", got)
	}
	sec := e.sampled(t, id)
	got := e.metrics(t, id, "")
	want := []map[string]any{{
		"timestamp": time.Unix(sec, 0).UTC().Format(time.RFC3339), "timestampUnix": float64(sec),
		"cpuCount": float64(core.DefaultSandboxVCPUs), "cpuUsedPct": float64(0),
		"memUsed": float64(100 << 20), "memTotal": float64(512 << 20), "memCache": float64(3 << 20),
		"diskUsed": float64(4096), "diskTotal": float64(1 << 30),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

// Another tenant's, an unknown and a killed sandbox are 404 in E2B's
// shape, which the SDK turns into SandboxNotFoundError.
func TestSandboxMetricsNotFound(t *testing.T) {
	e := newTestEnv(t)
	id := e.create(t, `{"templateID":"img"}`)
	e.sampled(t, id)
	r := e.call(t, "GET", "/sandboxes/"+id+"/metrics", e.keyB, "")
	if r.status != 404 {
		t.Errorf("tenant B: %d %s, want 404", r.status, r.raw)
	}
	errorOf(t, r)
	wantStatus(t, e.call(t, "DELETE", "/sandboxes/"+id, e.keyA, ""), 204)
	r = e.call(t, "GET", "/sandboxes/"+id+"/metrics", e.keyA, "")
	if r.status != 404 {
		t.Errorf("killed: %d %s, want 404", r.status, r.raw)
	}
	errorOf(t, r)
}

// metricsFields are the field rows of GET /sandboxes/{id}/metrics: start
// and end bound the samples (both included), in unix seconds.
func metricsFields() opFields {
	bound := func(name string) fieldRow {
		return onSandbox("bounds the samples, included", "negative, not a number or after end: 400 naming it",
			func(t *testing.T, e *testEnv, id string) {
				sec := e.sampled(t, id)
				in, out := sec, sec+1
				if name == "end" {
					out = sec - 1
				}
				if got := e.metrics(t, id, name+"="+strconv.FormatInt(in, 10)); len(got) != 1 {
					t.Errorf("%s=%d (the sample's second): %d samples, want 1", name, in, len(got))
				}
				if got := e.metrics(t, id, name+"="+strconv.FormatInt(out, 10)); len(got) != 0 {
					t.Errorf("%s=%d: %d samples, want 0", name, out, len(got))
				}
				for _, bad := range []string{"-1", "soon"} {
					wantRefused(t, e.call(t, "GET", "/sandboxes/"+id+"/metrics?"+name+"="+bad, e.keyA, ""), 400, name)
				}
				wantRefused(t, e.call(t, "GET", "/sandboxes/"+id+"/metrics?start=20&end=10", e.keyA, ""), 400, "start")
			})
	}
	return opFields{"?start": bound("start"), "?end": bound("end")}
}
