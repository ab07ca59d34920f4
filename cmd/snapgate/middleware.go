package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// recoverJSON turns a panic into a 500 with a JSON body instead of a dropped
// connection, and logs it once.
func recoverJSON(logger *slog.Logger) gin.HandlerFunc {
	return gin.CustomRecovery(func(c *gin.Context, err any) {
		logger.ErrorContext(c.Request.Context(), "panic in handler", "path", c.FullPath(), "panic", err)
		c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{
			"detail": gin.H{"error": "InternalError", "message": "internal error"},
			"code":   500, "message": "internal error",
		})
	})
}

// accessLog logs one line per request: method, route template, status,
// duration, request id, tenant once authenticated, and the sandbox and
// snapshot the route names. It never logs headers, the query or the raw
// path: they carry API keys, access tokens and signatures. Probes and
// scrapes that succeed log at debug, so they do not drown the rest.
func accessLog(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		level := slog.LevelInfo
		if polled(c.FullPath()) && c.Writer.Status() < 400 {
			level = slog.LevelDebug
		}
		attrs := []slog.Attr{
			slog.String("method", c.Request.Method),
			slog.String("route", c.FullPath()),
			slog.Int("status", c.Writer.Status()),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", c.GetString("request_id")),
		}
		if t := c.GetString("tenant"); t != "" {
			attrs = append(attrs, slog.String("tenant", t))
		}
		logger.LogAttrs(c.Request.Context(), level, "request", append(attrs, resourceAttrs(c)...)...)
	}
}

// polled reports whether machines poll route (kubelet probes, Prometheus).
func polled(route string) bool {
	switch route {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// resourceAttrs names the sandbox and snapshot a request is about, as the
// client named them (an id, or for LangSmith a name): the route parameters
// of each vendor, and the sandbox envd routing found (header or host).
func resourceAttrs(c *gin.Context) []slog.Attr {
	var attrs []slog.Attr
	sandbox := c.GetString("sandbox") // set by envd routing
	for _, p := range []struct{ key, param string }{
		{"sandbox", "sandboxID"},     // E2B
		{"sandbox", "box_name"},      // LangSmith boxes
		{"sandbox", "box"},           // LangSmith dataplane
		{"snapshot", "snapshot_ref"}, // LangSmith snapshots
		{"snapshot", "templateID"},   // E2B templates
	} {
		if v := c.Param(p.param); v != "" {
			attrs = append(attrs, slog.String(p.key, v))
			if p.key == "sandbox" {
				sandbox = ""
			}
		}
	}
	if sandbox != "" {
		attrs = append(attrs, slog.String("sandbox", sandbox))
	}
	return attrs
}

// limitBody refuses request bodies over n bytes with 413. A chunked body
// has no length to check up front: it is read up to the limit here, so an
// oversized one is refused as such rather than as whatever parse error a
// cut-off body causes later (422 or 400).
func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		if isFileUpload(r) {
			c.Next() // streamed to the sandbox's disk, never held in memory
			return
		}
		if r.ContentLength > n {
			tooLarge(c)
			return
		}
		if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(io.LimitReader(r.Body, n+1))
			switch {
			case int64(len(b)) > n:
				tooLarge(c)
				return
			case err != nil:
				c.AbortWithStatusJSON(http.StatusBadRequest, vendorError(http.StatusBadRequest, "ValidationError", "cannot read the request body"))
				return
			}
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			c.Next()
			return
		}
		r.Body = http.MaxBytesReader(c.Writer, r.Body, n)
		c.Next()
	}
}

// Lingering close of a refused body, as nginx does it: after the 413 is
// sent, up to lingerBytes more of the body are read and dropped, for at
// most lingerTime, before the connection closes. Closing on unread data
// makes the kernel answer the client's next segments with a reset, which
// discards the 413 the client has not read yet: SDKs then report a
// connection reset instead of "too large". The bounds keep a client from
// making the server read forever.
const (
	lingerBytes = 16 << 20
	lingerTime  = 10 * time.Second
)

func tooLarge(c *gin.Context) {
	c.Header("Connection", "close") // the body is not read to its end
	rc := http.NewResponseController(c.Writer)
	// Without full duplex, net/http gives up on the body once the
	// response is written, and the drain below would read nothing.
	_ = rc.EnableFullDuplex()
	c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge,
		vendorError(http.StatusRequestEntityTooLarge, "PayloadTooLarge", "request body larger than the configured limit"))
	_ = rc.Flush()
	linger(c.Request, rc)
}

// linger reads what is left of r's body within the lingering bounds.
func linger(r *http.Request, rc *http.ResponseController) {
	// A client waiting for "100 Continue" got the final status instead and
	// sends no body.
	if r.Body == nil || r.Body == http.NoBody || strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return
	}
	_ = rc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, r.Body, lingerBytes)
}

// vendorError is an error body before any adapter is chosen: LangSmith's
// detail object and E2B's code and message together, so both SDKs read it.
func vendorError(status int, token, msg string) gin.H {
	return gin.H{"detail": gin.H{"error": token, "message": msg}, "code": status, "message": msg}
}

// isFileUpload reports whether r uploads a file into a sandbox (E2B envd
// POST /files, LangSmith POST /dataplane/<box>/upload): those bodies are
// streamed to the sandbox's filesystem, so the API body limit does not
// apply; the sandbox's disk is the limit.
func isFileUpload(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	p := r.URL.Path
	return p == "/files" || (strings.HasPrefix(p, "/dataplane/") && strings.HasSuffix(p, "/upload"))
}
