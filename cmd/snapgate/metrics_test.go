package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestMethodLabelIsBounded(t *testing.T) {
	t.Parallel()
	for method, want := range map[string]string{"GET": "GET", "DELETE": "DELETE", "BREW": "other", "get": "other"} {
		if got := methodLabel(method); got != want {
			t.Errorf("methodLabel(%q) = %q, want %q", method, got, want)
		}
	}
}

// scrape reads /metrics the way Prometheus does.
func (h *harness) scrape() map[string]*dto.MetricFamily {
	h.t.Helper()
	resp, err := http.Get(h.http.URL + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		h.t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		h.t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the series of fam with exactly these labels
// among its own (others may exist), and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	fam := fams[name]
	if fam == nil {
		return 0, false
	}
	var sum float64
	found := false
next:
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, found
}

func TestMetricsCountRequestsWorkAndSandboxes(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, filepath.Join(dir, "snapgate.db"), dir)
	h.start(true)
	ready := h.wait(h.create("metrics-ok", h.image, 1<<30))["id"].(string)
	if got := h.wait(h.create("metrics-missing", h.reg.Ref("busybox", "nope"), 1<<30)); got["status"] != "failed" {
		t.Fatalf("build of a missing tag: %v", got)
	}
	sb := h.e2bCreate(ready)
	if code, out := h.do("POST", "/sandboxes/"+sb+"/snapshots", `{"name":"metrics-cap"}`); code != 201 {
		t.Fatalf("capture: %d %v", code, out)
	}
	h.do("GET", "/v2/sandboxes", "")
	h.do("GET", "/no/such/route/"+ready, "")

	fams := h.scrape()
	want := []struct {
		name   string
		labels map[string]string
		n      float64
		exact  bool // else n is a lower bound
	}{
		{"snapgate_http_requests_total", map[string]string{
			"route": "/v2/sandboxes/snapshots/:snapshot_ref", "method": "GET", "vendor": "langsmith", "code": "200"}, 2, false},
		{"snapgate_http_requests_total", map[string]string{
			"route": "/api/v2/sandboxes/snapshots", "method": "POST", "vendor": "langsmith", "code": "201"}, 2, true},
		{"snapgate_http_requests_total", map[string]string{
			"route": "/v2/sandboxes", "method": "GET", "vendor": "e2b", "code": "200"}, 1, true},
		{"snapgate_http_requests_total", map[string]string{
			"route": "/sandboxes/:sandboxID/snapshots", "method": "POST", "vendor": "e2b", "code": "201"}, 1, true},
		{"snapgate_http_requests_total", map[string]string{
			"route": unmatchedRoute, "method": "GET", "vendor": "other", "code": "404"}, 1, true},
		{"snapgate_http_request_duration_seconds", map[string]string{
			"route": "/v2/sandboxes", "method": "GET", "vendor": "e2b", "code": "200"}, 1, true},
		{"snapgate_snapshot_builds_total", map[string]string{"outcome": "ready"}, 1, true},
		{"snapgate_snapshot_builds_total", map[string]string{"outcome": "failed"}, 1, true},
		{"snapgate_snapshot_captures_total", map[string]string{"outcome": "ready"}, 1, true},
		{"snapgate_snapshot_captures_total", map[string]string{"outcome": "failed"}, 0, true},
		{"snapgate_image_pulls_total", nil, 1, true},
		{"snapgate_image_pull_unpacked_bytes_total", nil, 1e6, false},
		{"snapgate_image_pushes_total", nil, 0, true}, // single node: no snapshot registry
		{"snapgate_image_push_bytes_total", nil, 0, true},
		{"snapgate_sandboxes", map[string]string{"state": "running"}, 1, true},
		{"snapgate_sandboxes", map[string]string{"state": "paused"}, 0, true},
		{"go_goroutines", nil, 1, false},
	}
	for _, w := range want {
		got, ok := value(fams, w.name, w.labels)
		switch {
		case !ok:
			t.Errorf("%s%v: no such series", w.name, w.labels)
		case w.exact && got != w.n:
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.n)
		case !w.exact && got < w.n:
			t.Errorf("%s%v = %v, want at least %v", w.name, w.labels, got, w.n)
		}
	}
	// Ids never become label values: one series per route, not per request.
	for _, m := range fams["snapgate_http_requests_total"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if strings.Contains(lp.GetValue(), ready) || strings.Contains(lp.GetValue(), sb) {
				t.Errorf("label %s=%q holds an id", lp.GetName(), lp.GetValue())
			}
		}
	}
}
