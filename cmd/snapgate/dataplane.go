package main

import (
	"context"
	"log/slog"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/e2b/envd"
	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/specs"
)

// registerDataplanes mounts both vendors' in-sandbox APIs on r: E2B's envd
// protocol (routed by the E2b-Sandbox-Id header or a 49983-<id>.<domain>
// host) and LangSmith's dataplane under /dataplane/<box id>.
func (s *Server) registerDataplanes(r *gin.Engine, dp *core.Dataplane, logger *slog.Logger) error {
	// E2B envd: at the root, beside E2B's platform API (no path collides).
	envdSpec, err := specs.Envd(context.Background()) // embedded: no I/O
	if err != nil {
		return err
	}
	ev, err := envd.New(envd.Options{Dataplane: dp, Spec: envdSpec, Logger: logger, Validate: !s.cfg.DisableValidation})
	if err != nil {
		return err
	}
	if err := ev.Register(r); err != nil {
		return err
	}
	// LangSmith dataplane: mounted by ls.Register (it needs the adapter's
	// keys and spec), which gets dp through langsmith.Options.Dataplane.
	return nil
}
