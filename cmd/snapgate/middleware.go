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

// accessLog logs one line per request. It never logs headers: they carry
// API keys.
func accessLog(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		logger.LogAttrs(c.Request.Context(), slog.LevelInfo, "request",
			slog.String("method", c.Request.Method),
			slog.String("route", c.FullPath()),
			slog.Int("status", c.Writer.Status()),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", c.GetString("request_id")),
			slog.String("tenant", c.GetString("tenant")),
		)
	}
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
