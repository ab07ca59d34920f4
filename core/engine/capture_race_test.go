package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapgate/snapgate/core"
)

// The capture-race attack: a sandbox keeps swapping a directory
// of its own for a symlink to a host directory, from inside and through
// host-side renames (as the dataplane's Move would, also while the sandbox
// is frozen), while captures run. A capture that follows the symlink on the
// host copies the host's file into the layer. No capture may ever hold the
// sentinel written into the host directory.
func TestCaptureSymlinkSwapRace(t *testing.T) {
	t.Parallel()
	captures := 120
	if testing.Short() {
		captures = 20
	}
	e := newEnv(t, envOptions{})
	host := t.TempDir()
	sentinel := "HOST-SENTINEL-" + randomHex(8)
	if err := os.WriteFile(filepath.Join(host, "secret.txt"), []byte(sentinel), 0o600); err != nil {
		t.Fatal(err)
	}
	sb := e.start(t, e.pullSandboxImage(t, "swaprace"))
	e.sh(t, sb, fmt.Sprintf(`set -e
mkdir /x && echo decoy > /x/secret.txt && ln -s %s /xl
nohup sh -c 'while :; do touch /x/secret.txt; done' >/dev/null 2>&1 </dev/null &
nohup sh -c 'while :; do mv /x /xd; mv /xl /x; mv /x /xl; mv /xd /x; done' >/dev/null 2>&1 </dev/null &`, host))

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); hostSideSwaps(ctx, "/proc/"+strconv.Itoa(int(e.taskPid(t, sb)))+"/root") }()
	defer func() { stop(); wg.Wait() }()

	// Renames during the frozen sync may fail a capture (the tree changed
	// under it): that is allowed, a capture holding the host file is not.
	ok := 0
	for i := range captures {
		name := core.ImageRefFor("swaprace-" + strconv.Itoa(i))
		if _, err := e.eng.CaptureSandbox(t.Context(), core.CaptureRequest{SandboxID: sb, Name: name}); err != nil {
			t.Logf("capture %d: %v", i, err)
			continue
		}
		ok++
		ci := e.inspect(t, name)
		for n, b := range ci.topBytes {
			if bytes.Contains(b, []byte(sentinel)) {
				t.Fatalf("capture %d holds the host's file as %s", i, n)
			}
		}
		if err := e.eng.RemoveImage(t.Context(), name); err != nil {
			t.Fatal(err)
		}
	}
	if ok < captures/4 {
		t.Errorf("only %d of %d captures succeeded", ok, captures)
	}
}

// hostSideSwaps renames /x and /xl of a sandbox root back and forth until
// ctx ends, as a dataplane Move issued by the attacker would. Errors are
// expected (the sandbox's own loop renames the same names).
func hostSideSwaps(ctx context.Context, root string) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	for ctx.Err() == nil {
		for _, p := range [][2]string{{"x", "xd"}, {"xl", "x"}, {"x", "xl"}, {"xd", "x"}} {
			if err := unix.Renameat(fd, p[0], fd, p[1]); err != nil && !errors.Is(err, unix.ENOENT) &&
				!errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EISDIR) &&
				!errors.Is(err, unix.ENOTDIR) {
				return // the sandbox is gone
			}
			time.Sleep(300 * time.Microsecond) // a state must last for a walk to see it
		}
	}
}
