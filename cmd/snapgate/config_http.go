package main

import (
	"errors"
	"fmt"
	"time"
)

// HTTPTimeouts bound how long a client may hold a connection without
// making progress (slowloris: headers or a body sent a byte at a time).
type HTTPTimeouts struct {
	// ReadHeader bounds reading a request's headers.
	ReadHeader time.Duration
	// Read bounds reading a whole request, body included, on every route
	// but streams and uploads (see Progress).
	Read time.Duration
	// Idle bounds a keep-alive connection waiting for its next request.
	Idle time.Duration
	// Progress is how long a stream or upload body (envd Connect streams
	// and /files, LangSmith /upload) may go without a byte arriving, and
	// a download or stream response without a write completing, before the
	// connection is cut. A stream with keepalives never hits it; it must
	// exceed the SDKs' keepalive interval.
	Progress time.Duration
}

// loadHTTPTimeouts reads SNAPGATE_HTTP_*_TIMEOUT.
func loadHTTPTimeouts(get func(k, def string) string) (HTTPTimeouts, error) {
	var t HTTPTimeouts
	var errs []error
	for _, f := range []struct {
		name, def string
		dst       *time.Duration
	}{
		{"SNAPGATE_HTTP_READ_HEADER_TIMEOUT", "10s", &t.ReadHeader},
		{"SNAPGATE_HTTP_READ_TIMEOUT", "60s", &t.Read},
		{"SNAPGATE_HTTP_IDLE_TIMEOUT", "120s", &t.Idle},
		{"SNAPGATE_HTTP_PROGRESS_TIMEOUT", "90s", &t.Progress},
	} {
		d, err := time.ParseDuration(get(f.name, f.def))
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be a positive duration like %s", f.name, f.def))
		}
		*f.dst = d
	}
	return t, errors.Join(errs...)
}
