package engine

import (
	"testing"

	"github.com/snapgate/snapgate/core"
)

// Core falls back to the busybox every sandbox has for shells an image
// lacks; it must be where the engine mounts it.
func TestInitBinaryIsCoresBusybox(t *testing.T) {
	if initMountPoint != core.SandboxBusybox {
		t.Errorf("init binary mounted at %s, core expects %s", initMountPoint, core.SandboxBusybox)
	}
}
