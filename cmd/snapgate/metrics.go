package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// metrics is the server's Prometheus instrumentation, on a registry of its
// own (never the global default one, so two servers in one test process
// do not share counters). It is also core's Observer.
type metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	builds    *prometheus.CounterVec
	captures  *prometheus.CounterVec
	pulls     prometheus.Counter
	pullBytes prometheus.Counter
	pushes    prometheus.Counter
	pushBytes prometheus.Counter
	sandboxes *prometheus.GaugeVec
}

// vendorOther is the vendor label of requests no vendor's mount answered
// (health, metrics, unknown paths no vendor owns).
const vendorOther = "other"

// unmatchedRoute is the route label of requests no route matched: their
// raw paths hold ids and would make a series per request.
const unmatchedRoute = "unmatched"

func newMetrics() (*metrics, error) {
	httpLabels := []string{"route", "method", "vendor", "code"}
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "snapgate_http_requests_total",
			Help: "HTTP requests answered, by route template, method, API vendor and status code.",
		}, httpLabels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "snapgate_http_request_duration_seconds",
			Help: "Time to answer HTTP requests (streams and WebSockets: their whole life), by route template, method, API vendor and status code.",
			// Sandbox creates and captures take seconds, not milliseconds.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, httpLabels),
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "snapgate_snapshot_builds_total",
			Help: "Snapshot builds from images whose result was recorded, by outcome (ready, failed).",
		}, []string{"outcome"}),
		captures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "snapgate_snapshot_captures_total",
			Help: "Captures of running sandboxes into snapshots, by outcome (ready, failed).",
		}, []string{"outcome"}),
		pulls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "snapgate_image_pulls_total",
			Help: "Successful image pulls by snapshot builds.",
		}),
		pullBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "snapgate_image_pull_unpacked_bytes_total",
			Help: "Unpacked size in bytes of the images pulled successfully (the engine reports unpacked, not transferred, sizes).",
		}),
		pushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "snapgate_image_pushes_total",
			Help: "Successful pushes of snapshots to the snapshot registry.",
		}),
		pushBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "snapgate_image_push_bytes_total",
			Help: "Bytes uploaded to the snapshot registry (blobs it already had count 0).",
		}),
		sandboxes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "snapgate_sandboxes",
			Help: "Live sandboxes on this node by state (starting, running, paused), read from the store at each scrape; sum over nodes for a cluster.",
		}, []string{"state"}),
	}
	// Outcomes exist at zero from the start, so rate() and alerts see them.
	for _, o := range []core.SnapshotStatus{core.SnapshotReady, core.SnapshotFailed} {
		m.builds.WithLabelValues(string(o))
		m.captures.WithLabelValues(string(o))
	}
	err := errors.Join(
		m.registry.Register(collectors.NewGoCollector()),
		m.registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
		m.registry.Register(m.requests), m.registry.Register(m.latency),
		m.registry.Register(m.builds), m.registry.Register(m.captures),
		m.registry.Register(m.pulls), m.registry.Register(m.pullBytes),
		m.registry.Register(m.pushes), m.registry.Register(m.pushBytes),
		m.registry.Register(m.sandboxes),
	)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// BuildFinished, CaptureFinished and ImagePulled implement core.Observer.
func (m *metrics) BuildFinished(s core.SnapshotStatus) { m.builds.WithLabelValues(string(s)).Inc() }

func (m *metrics) CaptureFinished(s core.SnapshotStatus) { m.captures.WithLabelValues(string(s)).Inc() }

func (m *metrics) ImagePulled(unpackedBytes int64) {
	m.pulls.Inc()
	m.pullBytes.Add(float64(unpackedBytes))
}

// ImagePushed implements core.PushObserver.
func (m *metrics) ImagePushed(bytes int64) {
	m.pushes.Inc()
	m.pushBytes.Add(float64(bytes))
}

// instrument counts and times every request. It must be the outermost
// middleware so that panics turned into 500s are counted too, and counts
// from a defer, so calls cut off by a panic are as well. The vendor label
// is the one the answering mount set.
func (m *metrics) instrument() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		defer func() {
			route := c.FullPath()
			if route == "" {
				route = unmatchedRoute
			}
			vendor := edge.Label(c)
			if vendor == "" {
				vendor = vendorOther
			}
			labels := []string{route, methodLabel(c.Request.Method), vendor, strconv.Itoa(c.Writer.Status())}
			m.requests.WithLabelValues(labels...).Inc()
			m.latency.WithLabelValues(labels...).Observe(time.Since(start).Seconds())
		}()
		c.Next()
	}
}

// methodLabel keeps the method label bounded: an unmatched route may carry
// any token a client invents.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// handler serves the registry in Prometheus's text format. The sandbox
// gauge is read from the store first, with the scrape's context.
func (m *metrics) handler(boxes *core.Sandboxes, logger *slog.Logger) gin.HandlerFunc {
	h := promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return func(c *gin.Context) {
		m.countSandboxes(c.Request.Context(), boxes, logger)
		h.ServeHTTP(c.Writer, c.Request)
	}
}

// countSandboxes refreshes the sandbox gauge. When the store does not
// answer the gauge is emptied: no figure is better than a stale one.
func (m *metrics) countSandboxes(ctx context.Context, boxes *core.Sandboxes, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	counts, err := boxes.CountByState(ctx)
	if err != nil {
		m.sandboxes.Reset()
		logger.WarnContext(ctx, "metrics: count sandboxes", "err", err)
		return
	}
	for st, n := range counts {
		m.sandboxes.WithLabelValues(string(st)).Set(float64(n))
	}
}
