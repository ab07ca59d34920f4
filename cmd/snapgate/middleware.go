package main

import (
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

// limitBody refuses request bodies over n bytes.
func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if isFileUpload(c.Request) {
			c.Next() // streamed to the sandbox's disk, never held in memory
			return
		}
		if c.Request.ContentLength > n {
			c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, gin.H{
				"detail": gin.H{"error": "PayloadTooLarge", "message": "request body larger than the configured limit"},
			})
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
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
