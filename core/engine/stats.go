package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"golang.org/x/sys/unix"

	"github.com/snapgate/snapgate/core"
)

// SandboxStats reads a sandbox's cgroup through its shim (task metrics, so
// neither the cgroup's path nor its version is assumed here) and its disk.
// ErrNotFound (no container), ErrFailedPrecondition (no task).
func (e *Engine) SandboxStats(ctx context.Context, id string) (core.SandboxStats, error) {
	ctx = e.withNS(ctx)
	_, task, st, err := e.sandboxTask(ctx, id)
	if err != nil {
		return core.SandboxStats{}, err
	}
	// An exited task still answers with its cgroup's last counters; it is
	// not running, as every other operation on it says.
	if task == nil || (st != containerd.Running && st != containerd.Paused && st != containerd.Pausing) {
		return core.SandboxStats{}, notRunning(id)
	}
	m, err := task.Metrics(ctx)
	if errdefs.IsNotFound(err) {
		return core.SandboxStats{}, notRunning(id)
	}
	if err != nil {
		return core.SandboxStats{}, classify(err, "read metrics of sandbox "+id)
	}
	data, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return core.SandboxStats{}, fmt.Errorf("decode metrics of sandbox %s: %w", id, err)
	}
	var out core.SandboxStats
	switch m := data.(type) {
	case *v1.Metrics:
		out = statsV1(m)
	case *v2.Metrics:
		out = statsV2(m)
	default:
		return core.SandboxStats{}, fmt.Errorf("metrics of sandbox %s: unknown type %T", id, data)
	}
	out.DiskUsed, out.DiskTotal, err = e.diskUsage(ctx, id)
	if err != nil {
		return core.SandboxStats{}, fmt.Errorf("disk usage of sandbox %s: %w", id, err)
	}
	return out, nil
}

// statsV1 reads a cgroup v1 hierarchy. The Total* counters include child
// cgroups, should a sandbox's runtime make any.
func statsV1(m *v1.Metrics) core.SandboxStats {
	mem := m.GetMemory()
	return core.SandboxStats{
		CPUTime:     time.Duration(m.GetCPU().GetUsage().GetTotal()),
		MemoryUsed:  usedMemory(mem.GetUsage().GetUsage(), mem.GetTotalInactiveFile()),
		MemoryCache: int64(mem.GetTotalCache()),
		MemoryLimit: int64(mem.GetUsage().GetLimit()),
	}
}

func statsV2(m *v2.Metrics) core.SandboxStats {
	mem := m.GetMemory()
	return core.SandboxStats{
		CPUTime:     time.Duration(m.GetCPU().GetUsageUsec()) * time.Microsecond,
		MemoryUsed:  usedMemory(mem.GetUsage(), mem.GetInactiveFile()),
		MemoryCache: int64(mem.GetFile()),
		MemoryLimit: int64(mem.GetUsageLimit()),
	}
}

// usedMemory is what the kernel charges less the inactive file cache it
// reclaims first, as docker stats and cAdvisor's working set count it.
func usedMemory(usage, inactiveFile uint64) int64 {
	if inactiveFile > usage {
		return 0
	}
	return int64(usage - inactiveFile)
}

// diskUsage is the statfs of the sandbox's own disk (mounted over its
// snapshot's directory: see disk.go), of the host-side mount point, never
// of a path inside the sandbox's tree. A sandbox without one (no DiskDir)
// reports 0 of 0: its writes are unbounded, and the size of its writable
// layer would take a walk of a tree the sandbox controls (10^6 entries
// make it seconds) on every sample.
func (e *Engine) diskUsage(ctx context.Context, id string) (used, total int64, err error) {
	if e.disks == nil {
		return 0, 0, nil
	}
	if _, err := os.Stat(e.disks.image(id)); errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	} else if err != nil {
		return 0, 0, err
	}
	dir, err := e.snapshotDir(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	bs := int64(fs.Bsize)
	return int64(fs.Blocks-fs.Bfree) * bs, int64(fs.Blocks) * bs, nil
}
