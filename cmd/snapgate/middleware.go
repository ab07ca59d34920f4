package main

import (
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
)

// accessLog logs one line per request: method, route template, status,
// duration, request id, tenant once authenticated, and the sandbox and
// snapshot the request names (as the mounts read them). It never logs
// headers, the query or the raw path: they carry API keys, access tokens
// and signatures. Probes and scrapes that succeed log at debug, so they
// do not drown the rest. It logs from a defer, so a call cut off by a
// panic (a forwarded answer whose node went away) is logged too.
func accessLog(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		defer func() {
			level := slog.LevelInfo
			if polled(c.FullPath()) && c.Writer.Status() < 400 {
				level = slog.LevelDebug
			}
			attrs := []slog.Attr{
				slog.String("method", c.Request.Method),
				slog.String("route", c.FullPath()),
				slog.Int("status", c.Writer.Status()),
				slog.Duration("duration", time.Since(start)),
				slog.String("request_id", edge.RequestID(c)),
			}
			if t := c.GetString("tenant"); t != "" {
				attrs = append(attrs, slog.String("tenant", t))
			}
			sandbox, snapshot := edge.Resources(c)
			if sandbox != "" {
				attrs = append(attrs, slog.String("sandbox", sandbox))
			}
			if snapshot != "" {
				attrs = append(attrs, slog.String("snapshot", snapshot))
			}
			logger.LogAttrs(c.Request.Context(), level, "request", attrs...)
		}()
		c.Next()
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
