package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

// promptly bounds one command in a sandbox whose neighbour misbehaves.
// It tells "still works" from "taken down" (hung, refused), not fast from
// slow: on a loaded 2-core machine a neighbour's fork bomb competing for
// the CPUs makes 64 forks take ~10 s, which is slow, not broken.
const promptly = 60 * time.Second

// A sandbox that forks, allocates or spins without end hurts only itself:
// its neighbour B and the host keep working, and it can still be killed.
func TestNoisyNeighbour(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	img := e.pullSandboxImage(t, "neighbours")
	b := e.start(t, img)

	t.Run("fork bomb hits the pids limit", func(t *testing.T) {
		const limit = 128
		small := e.engineWith(t, func(o *engineOptions) { o.PidsLimit = limit })
		a := "sb-bomb-" + randomHex(4)
		if err := small.StartSandbox(t.Context(), core.SandboxSpec{ID: a, Image: img, VCPUs: 1, MemoryBytes: 256 << 20}); err != nil {
			t.Fatal(err)
		}
		e.bomb(t, a) // keeps A at its limit until it is killed
		waitFor(t, 15*time.Second, "A's processes at the pids limit", func() bool {
			return e.cgroupFile(t, a, "pids", "pids.current") == strconv.Itoa(limit)
		})
		refused := strings.TrimPrefix(e.cgroupFile(t, a, "pids", "pids.events"), "max ")
		if n, _ := strconv.Atoi(refused); n == 0 {
			t.Errorf("pids.events max = %s, want forks refused", refused)
		}
		e.wantPrompt(t, b, `for i in $(seq 64); do true & done; wait`)
		if err := exec.Command("true").Run(); err != nil {
			t.Errorf("the host cannot fork: %v", err)
		}
		procs := e.cgroupFile(t, a, "pids", "cgroup.procs")
		e.killPrompt(t, a)
		for _, pid := range strings.Fields(procs) {
			if cg, err := os.ReadFile("/proc/" + pid + "/cgroup"); err == nil && strings.Contains(string(cg), "/"+a+"\n") {
				t.Errorf("process %s of the killed sandbox still runs", pid)
			}
		}
	})

	t.Run("memory hog is OOM-killed inside its sandbox", func(t *testing.T) {
		a := e.start(t, img, func(s *core.SandboxSpec) { s.MemoryBytes = 64 << 20 })
		initPid := e.taskPid(t, a)
		// awk doubles a string until the allocation fails or it is killed.
		code, err := e.eng.Exec(t.Context(), a, []string{"awk", `BEGIN { s = "x"; while (1) s = s s }`}, nil, nil, nil, nil)
		if err != nil || code != 137 {
			t.Errorf("memory hog = %d, %v; want 137 (SIGKILL by the OOM killer)", code, err)
		}
		if got := e.cgroupFile(t, a, "memory", "memory.oom_control"); !strings.Contains(got, "oom_kill ") || strings.Contains(got, "oom_kill 0") {
			t.Errorf("memory.oom_control = %q, want a kill counted", got)
		}
		e.wantPrompt(t, b, "echo ok")
		// The hog, not the init loop, is the largest process: the sandbox
		// survives. Were init killed too, the engine must say stopped.
		st, err := e.eng.SandboxState(t.Context(), a)
		switch {
		case err != nil:
			t.Fatal(err)
		case st == core.RuntimeRunning:
			if pid := e.taskPid(t, a); pid != initPid {
				t.Errorf("init pid %d became %d", initPid, pid)
			}
			e.wantPrompt(t, a, "echo alive")
		case st == core.RuntimeStopped:
			t.Logf("the OOM killer took the init loop too; reported stopped")
			if _, err := e.eng.Exec(t.Context(), a, []string{"true"}, nil, nil, nil, nil); !errors.Is(err, core.ErrFailedPrecondition) {
				t.Errorf("exec in the stopped sandbox = %v, want ErrFailedPrecondition", err)
			}
		default:
			t.Errorf("state after OOM = %q", st)
		}
		e.killPrompt(t, a)
	})

	t.Run("CPU hog is held to its quota", func(t *testing.T) {
		a := e.start(t, img, func(s *core.SandboxSpec) { s.VCPUs = 1 })
		e.sh(t, a, `for i in 1 2 3 4; do sh -c 'while :; do :; done' >/dev/null 2>&1 & done`)
		time.Sleep(200 * time.Millisecond) // let the loops start
		usage := func() time.Duration {
			n, err := strconv.ParseInt(e.cgroupFile(t, a, "cpuacct", "cpuacct.usage"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return time.Duration(n)
		}
		before, start := usage(), time.Now()
		var lat []time.Duration
		for range 10 {
			lat = append(lat, e.wantPrompt(t, b, "true"))
		}
		used, wall := usage()-before, time.Since(start)
		t.Logf("A used %v of CPU in %v (cpu.stat %q); B's exec latency median %v, max %v",
			used, wall, e.cgroupFile(t, a, "cpu", "cpu.stat"), median(lat), slices.Max(lat))
		// 1 vCPU: at most one period's quota per period, plus a little overrun.
		if limit := wall + wall/4 + 50*time.Millisecond; used > limit {
			t.Errorf("A used %v of CPU in %v with 4 busy loops, want at most 1 vCPU", used, wall)
		}
		e.killPrompt(t, a)
	})
}

// wantPrompt runs script in sandbox id and fails unless it succeeds within
// promptly; it returns how long it took.
func (e *env) wantPrompt(t *testing.T, id, script string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*promptly)
	defer cancel()
	var errb bytes.Buffer
	start := time.Now()
	code, err := e.eng.Exec(ctx, id, []string{"/bin/sh", "-c", script}, nil, nil, nil, &errb)
	took := time.Since(start)
	if err != nil || code != 0 || took > promptly {
		t.Errorf("%q in %s = %d, %v after %v (stderr %q); want success within %v", script, id, code, err, took, errb.String(), promptly)
	}
	return took
}

// killPrompt kills sandbox id, which must end within promptly and leave
// neither task nor cgroup.
func (e *env) killPrompt(t *testing.T, id string) {
	t.Helper()
	start := time.Now()
	if err := e.eng.KillSandbox(t.Context(), id); err != nil {
		t.Fatalf("KillSandbox(%s): %v", id, err)
	}
	if took := time.Since(start); took > promptly {
		t.Errorf("KillSandbox(%s) took %v", id, took)
	}
	e.wantState(t, id, core.RuntimeMissing)
	for _, ctrl := range []string{"pids", "memory", "cpu"} {
		if _, err := os.Stat(fmt.Sprintf("/sys/fs/cgroup/%s/%s/%s", ctrl, e.ns, id)); err == nil {
			t.Errorf("the %s cgroup of killed sandbox %s is still there", ctrl, id)
		}
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
