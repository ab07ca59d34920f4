package engine_test

import (
	"fmt"
	"testing"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
)

// The engine's SandboxFS, on a running sandbox in its user namespace,
// passes the suite the fakes' passes: owners as the sandbox sees them,
// symlinks and FIFOs the sandbox makes itself.
func TestSandboxFSConformance(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.start(t, e.pullSandboxImage(t, "sandboxfs"))
	fsys, err := e.eng.OpenFS(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	coretest.RunSandboxFSConformance(t, coretest.SandboxFSEnv{
		FS: fsys, Owner: core.Owner{UID: 1000, GID: 1000},
		Symlink: func(t *testing.T, target, p string) { e.sh(t, id, fmt.Sprintf("ln -s '%s' '%s'", target, p)) },
		Mkfifo:  func(t *testing.T, p string) { e.sh(t, id, fmt.Sprintf("mkfifo '%s'", p)) },
	})
}
