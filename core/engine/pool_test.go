package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// waitWarm waits until image has n warm sandboxes.
func (e *env) waitWarm(t *testing.T, image string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for e.eng.WarmCount(image) != n {
		if time.Now().After(deadline) {
			t.Fatalf("image %s has %d warm sandboxes, want %d", image, e.eng.WarmCount(image), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWarmPoolAdoptsStartedSandbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{warmPool: 1})
	ctx := t.Context()
	img := e.pullSandboxImage(t, "warm")
	if id := e.eng.ReserveWarm(ctx, img, testDisk); id != "" {
		t.Fatalf("ReserveWarm before any start = %q, want none", id)
	}
	first := e.start(t, img)
	e.waitWarm(t, img, 1)
	if ids, err := e.eng.ListSandboxContainers(ctx); err != nil || len(ids) != 1 || ids[0] != first {
		t.Errorf("ListSandboxContainers = %v, %v; want only %s (warm ones are not sandboxes yet)", ids, err, first)
	}

	id := e.eng.ReserveWarm(ctx, img, testDisk)
	if id == "" || !strings.HasPrefix(id, "i") {
		t.Fatalf("ReserveWarm = %q, want a sandbox id", id)
	}
	if again := e.eng.ReserveWarm(ctx, img, testDisk); again != "" {
		t.Errorf("second ReserveWarm = %q, want none (the only one is reserved)", again)
	}
	spec := core.SandboxSpec{ID: id, Image: img, VCPUs: 2, MemoryBytes: 96 << 20, Env: map[string]string{"GREETING": "warm"}, DiskBytes: testDisk}
	if err := e.eng.StartSandbox(ctx, spec); err != nil {
		t.Fatalf("StartSandbox(adopt %s): %v", id, err)
	}
	e.wantState(t, id, core.RuntimeRunning)
	if got := e.sh(t, id, `echo "$GREETING $(hostname)"; cat /etc/snapgate-test`); !strings.HasPrefix(got, "warm "+id+"\n") {
		t.Errorf("adopted sandbox env and hostname: %q", got)
	}
	if ids, _ := e.eng.ListSandboxContainers(ctx); len(ids) != 2 {
		t.Errorf("ListSandboxContainers after adopting = %v, want 2 sandboxes", ids)
	}
	cg := func(ctrl, file string) string {
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, e.ns, id, file))
		if err != nil {
			t.Skipf("cgroup v1 file not readable (%v); limits not checked", err)
		}
		return strings.TrimSpace(string(b))
	}
	if got := cg("memory", "memory.limit_in_bytes"); got != "100663296" {
		t.Errorf("memory.limit_in_bytes = %s, want 100663296", got)
	}
	if got := cg("cpu", "cpu.cfs_quota_us"); got != "200000" {
		t.Errorf("cfs quota = %s, want 200000", got)
	}
	// The pool refills, and removing the image takes its warm sandboxes.
	e.waitWarm(t, img, 1)
	if err := e.eng.KillSandbox(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := e.eng.KillSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.eng.RemoveImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	if n := e.eng.WarmCount(img); n != 0 {
		t.Errorf("WarmCount after RemoveImage = %d, want 0", n)
	}
	cs, err := e.raw.Containers(e.nsCtx(ctx))
	if err != nil || len(cs) != 0 {
		t.Errorf("containers left after removing the image: %d, %v", len(cs), err)
	}
}

func TestWarmPoolReleasedByKill(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{warmPool: 1})
	ctx := t.Context()
	img := e.pullSandboxImage(t, "warm-release")
	e.start(t, img)
	e.waitWarm(t, img, 1)
	// Warm sandboxes have the disk size of the start that called for them.
	if other := e.eng.ReserveWarm(ctx, img, 2*testDisk); other != "" {
		t.Fatalf("ReserveWarm with another disk size = %q, want none", other)
	}
	id := e.eng.ReserveWarm(ctx, img, testDisk)
	if err := e.eng.KillSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}
	e.wantState(t, id, core.RuntimeMissing)
	// A killed reservation is not adopted later: StartSandbox makes it anew.
	if err := e.eng.StartSandbox(ctx, core.SandboxSpec{ID: id, Image: img, DiskBytes: testDisk}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := e.eng.ListSandboxContainers(ctx); len(ids) != 2 {
		t.Errorf("ListSandboxContainers = %v, want 2 sandboxes", ids)
	}
}
