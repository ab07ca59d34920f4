package engine_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// At its pids limit a sandbox's own processes fail to fork, but its pid 1
// must not need to: the sandbox stays running, keeps its files and takes
// new commands once the bomb is gone. An init that respawns a helper (a
// shell looping over `sleep & wait`) dies the first time that fork fails.
func TestForkBombKeepsSandbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	img := e.pullSandboxImage(t, "forkbomb")
	const limit = 64
	small := e.engineWith(t, func(o *engineOptions) { o.PidsLimit = limit })
	id := "sb-bomb-" + randomHex(4)
	if err := small.StartSandbox(t.Context(), core.SandboxSpec{ID: id, Image: img, VCPUs: 1, MemoryBytes: 256 << 20}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.eng.KillSandbox(context.Background(), id) })
	e.sh(t, id, "echo kept > /root/kept")
	initPid := int(e.taskPid(t, id))

	t.Run("pid 1 runs alone: no helper it would have to respawn", func(t *testing.T) {
		if got := e.sandboxProcs(t, id); !slices.Equal(got, []int{initPid}) {
			t.Errorf("processes of an idle sandbox = %v, want only pid 1 (%d)", got, initPid)
		}
	})

	t.Run("survives a fork bomb and its killing", func(t *testing.T) {
		e.bomb(t, id)
		waitFor(t, promptly, "the bomb at the pids limit", func() bool {
			n, _ := strconv.Atoi(e.cgroupFile(t, id, "pids", "pids.current"))
			return n >= limit-1
		})
		refused := strings.TrimPrefix(e.cgroupFile(t, id, "pids", "pids.events"), "max ")
		if n, _ := strconv.Atoi(refused); n == 0 {
			t.Errorf("pids.events max = %s, want forks refused", refused)
		}
		// Kill everything but pid 1 while the bombs refill every freed
		// slot: whatever pid 1 had to fork again would lose that race.
		for range 5 {
			signalExcept(e.sandboxProcs(t, id), initPid)
			time.Sleep(100 * time.Millisecond)
		}
		e.wantState(t, id, core.RuntimeRunning)
		if pid := int(e.taskPid(t, id)); pid != initPid {
			t.Fatalf("pid 1 was %d, now %d: the sandbox was restarted", initPid, pid)
		}
		e.stopAllBut(t, id, initPid)
		if got := e.sh(t, id, "cat /root/kept"); got != "kept\n" {
			t.Errorf("file written before the bomb = %q, want kept", got)
		}
		e.wantPrompt(t, id, "for i in 1 2 3; do true & done; wait")
		e.wantState(t, id, core.RuntimeRunning)
	})

	t.Run("orphans that exit are reaped, not left as zombies", func(t *testing.T) {
		// Each orphan re-parents to pid 1; unreaped, 300 of them would fill
		// the 64 pids and make the loop's forks fail.
		e.wantPrompt(t, id, "for i in $(seq 300); do (true &); done")
		waitFor(t, 15*time.Second, "pid 1 alone again", func() bool {
			return e.cgroupFile(t, id, "pids", "pids.current") == "1"
		})
		e.wantPrompt(t, id, "echo still forks")
	})
}

// forkBomb keeps a sandbox at its pids limit until its processes are
// killed: the classic shell bomb burns out here within a second (a shell
// that cannot fork exits), whereas awk's system() survives failed forks
// and retries. Its shell may itself fail to fork once the first loop
// fills the sandbox, so callers do not check its exit code.
const forkBomb = `for i in 1 2 3 4; do awk 'BEGIN { while (1) system("sleep 600 &") }' >/dev/null 2>&1 & done; ` +
	`bomb() { bomb | bomb & }; bomb >/dev/null 2>&1`

// bomb runs forkBomb in sandbox id with a timeout that ends only its
// shell: the loops it started are orphans by then.
func (e *env) bomb(t *testing.T, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), promptly)
	defer cancel()
	if _, err := e.eng.Exec(ctx, id, []string{"/bin/sh", "-c", forkBomb}, nil, nil, nil, nil); err != nil {
		t.Logf("the bomb's shell: %v", err)
	}
}

// sandboxProcs lists the host pids in sandbox id's pids cgroup.
func (e *env) sandboxProcs(t *testing.T, id string) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Fields(e.cgroupFile(t, id, "pids", "cgroup.procs")) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// signalExcept SIGKILLs every pid but keep.
func signalExcept(pids []int, keep int) {
	for _, p := range pids {
		if p != keep {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

// stopAllBut ends every process of sandbox id except keep: frozen, the
// bomb cannot fork while it is killed; the kills land at the thaw.
func (e *env) stopAllBut(t *testing.T, id string, keep int) {
	t.Helper()
	waitFor(t, promptly, "the sandbox down to pid 1", func() bool {
		if err := e.eng.PauseSandbox(t.Context(), id); err != nil {
			t.Fatalf("PauseSandbox: %v", err)
		}
		signalExcept(e.sandboxProcs(t, id), keep)
		if err := e.eng.ResumeSandbox(t.Context(), id); err != nil {
			t.Fatalf("ResumeSandbox: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
		return slices.Equal(e.sandboxProcs(t, id), []int{keep})
	})
}
