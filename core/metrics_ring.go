package core

import "time"

// metricRing is one sandbox's bounded history: a circular buffer, so a
// sample costs no allocation once it is full.
type metricRing struct {
	buf   []SandboxMetric
	first int // index of the oldest sample
	n     int
	// prev is the reading the next sample's CPU share is taken against.
	prev   SandboxStats
	prevAt time.Time
}

func newMetricRing(size int) *metricRing {
	return &metricRing{buf: make([]SandboxMetric, size)}
}

func (r *metricRing) add(s SandboxMetric) {
	if r.n < len(r.buf) {
		r.buf[(r.first+r.n)%len(r.buf)] = s
		r.n++
		return
	}
	r.buf[r.first] = s
	r.first = (r.first + 1) % len(r.buf)
}

// within returns copies of the samples taken in q (ends included), oldest
// first.
func (r *metricRing) within(q MetricsQuery) []SandboxMetric {
	out := []SandboxMetric{}
	for i := range r.n {
		s := r.buf[(r.first+i)%len(r.buf)]
		if (!q.Start.IsZero() && s.At.Before(q.Start)) || (!q.End.IsZero() && s.At.After(q.End)) {
			continue
		}
		out = append(out, s)
	}
	return out
}
