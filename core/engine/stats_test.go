package engine_test

import (
	"errors"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// SandboxStats reads the sandbox's cgroup and disk: memory is charged and
// bounded by the spec, a written file raises disk use, a CPU hog's time
// grows near the wall clock, and a killed sandbox is not found.
func TestSandboxStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.start(t, e.pullSandboxImage(t, "stats"))
	ctx := t.Context()

	before, err := e.eng.SandboxStats(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if before.MemoryUsed <= 0 || before.MemoryLimit != 256<<20 {
		t.Errorf("memory used %d of %d, want > 0 of %d", before.MemoryUsed, before.MemoryLimit, 256<<20)
	}
	if before.DiskTotal < testDisk/2 || before.DiskTotal > testDisk || before.DiskUsed <= 0 {
		t.Errorf("disk used %d of %d, want > 0 of about %d", before.DiskUsed, before.DiskTotal, testDisk)
	}

	e.sh(t, id, "dd if=/dev/zero of=/root/big bs=1M count=8 2>/dev/null && sync")
	written, err := e.eng.SandboxStats(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if grew := written.DiskUsed - before.DiskUsed; grew < 6<<20 {
		t.Errorf("disk used grew %d bytes after writing 8 MiB, want at least 6 MiB", grew)
	}

	// The hog's output is closed so the exec returns at once.
	e.sh(t, id, "(while :; do :; done) </dev/null >/dev/null 2>&1 &")
	a, err := e.eng.SandboxStats(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	const wall = 2 * time.Second
	time.Sleep(wall)
	b, err := e.eng.SandboxStats(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// One vCPU: the hog gets up to the whole wall time; a loaded host
	// (tests run in parallel on 2 cores) still gives it a good share.
	t.Logf("idle %+v; written %+v; hog %v of CPU in %v", before, written, b.CPUTime-a.CPUTime, wall)
	if used := b.CPUTime - a.CPUTime; used < wall*3/10 || used > wall*12/10 {
		t.Errorf("a CPU hog used %v of CPU in %v on 1 vCPU, want between 30%% and 120%%", used, wall)
	}

	if err := e.eng.KillSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.SandboxStats(ctx, id); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("stats of a killed sandbox: %v, want ErrNotFound", err)
	}
}
