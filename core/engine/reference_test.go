package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine"
)

// TestHostileReferencesRefused: docker_image references that try
// traversal, shell metacharacters or unicode tricks are the client's
// invalid argument, refused before anything is pulled. No containerd
// needed: parsing is local.
func TestHostileReferencesRefused(t *testing.T) {
	var e engine.Engine
	bad := []string{
		"", "../etc/passwd", "busybox/../../x", "/abs/path", "./busybox", "busybox;rm -rf /", "busybox$(id)", "busybox`id`",
		"busybox|sh", "busybox&", "busybox\n", "busy\nbox", "busybox\x00", "busybox:lat est", " busybox", "BUSYBOX",
		"bus\u202eybox", "bus\u200bybox", "ｂusybox", "busybox／x", "\xc0\xae\xc0\xae/x", "busybox:" + strings.Repeat("a", 129),
		"busybox@sha256:xyz", "http://registry.example.com/busybox", "a..b", "a//b",
		"busybox:tag:tag", "%2e%2e%2fbusybox", "busybox\\x", strings.Repeat("a/", 300) + "a",
	}
	for _, ref := range bad {
		if got, err := e.NormalizeReference(ref); !errors.Is(err, core.ErrInvalidArgument) {
			t.Errorf("NormalizeReference(%q) = %q, %v; want ErrInvalidArgument", ref, got, err)
		}
	}
	for _, ref := range []string{"busybox", "python:3.12-slim", "registry.example.com:5000/team/img:v1"} {
		if _, err := e.NormalizeReference(ref); err != nil {
			t.Errorf("NormalizeReference(%q): %v", ref, err)
		}
	}
	t.Logf("%s: %d inputs tried", t.Name(), len(bad)+3)
}
