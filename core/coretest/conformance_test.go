package coretest_test

import (
	"testing"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
)

// The fakes pass the suite the real engine passes (core/engine's
// TestEngineConformance), so core's unit tests see what production sees.
func TestFakeEngineConformance(t *testing.T) {
	t.Parallel()
	coretest.RunEngineConformance(t, func(t *testing.T) coretest.EngineEnv {
		const missing = "registry.test/conformance/missing:latest"
		eng := coretest.NewEngine(1 << 20)
		eng.Fail[missing] = core.Errorf(core.ErrNotFound, "image %s not found in its registry: check docker_image", missing)
		procs := coretest.NewDataplaneEngine(t.TempDir(), eng.SandboxState)
		t.Cleanup(procs.Close)
		return coretest.EngineEnv{
			Engine:    eng,
			Processes: procs,
			Source:    "registry.test/conformance/busybox:latest",
			Missing:   missing,
			PushRepo:  "registry.test/conformance/pushed",
			Stop:      func(_ *testing.T, id string) { eng.Stop(id) },
		}
	})
}
