package engine

import (
	"context"
	"log/slog"
	"os/exec"
	"strings"
	"time"
)

// criuProbeTimeout bounds `criu check`; it answers in ~150 ms where it works.
const criuProbeTimeout = 10 * time.Second

// criuProbe is the once-per-process answer to "can this host checkpoint a
// task's memory?". It runs in the background from New, so New does not pay
// for `criu check`; MemorySnapshots waits for it.
type criuProbe struct {
	done chan struct{}
	ok   bool
}

// startCRIUProbe runs `criu check` if criu is installed. Memory snapshots
// need it to pass: on some kernels criu is installed but cannot dump (on
// the reference host it fails on the vDSO layout), and task.Checkpoint
// would then fail only after the client asked for memory.
func startCRIUProbe(log *slog.Logger) *criuProbe {
	p := &criuProbe{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		path, err := exec.LookPath("criu")
		if err != nil {
			log.Info("memory snapshots unavailable: criu is not installed")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), criuProbeTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, path, "check").CombinedOutput()
		if err != nil {
			log.Info("memory snapshots unavailable: `criu check` failed",
				"err", err, "output", firstOutputLine(out))
			return
		}
		p.ok = true
		log.Info("memory snapshots available: `criu check` passed")
	}()
	return p
}

// MemorySnapshots reports whether this host can capture a sandbox's memory
// (CRIU works). Probed once, in the background of New.
func (e *Engine) MemorySnapshots() bool {
	if e.criu == nil {
		return false
	}
	<-e.criu.done
	return e.criu.ok
}

// firstOutputLine is criu's first complaint, the one that names the cause.
func firstOutputLine(out []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
