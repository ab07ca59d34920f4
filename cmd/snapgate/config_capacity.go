package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/snapgate/snapgate/core"
)

// Defaults sized from the node, so no tenant is unlimited and the node's
// sandboxes cannot together exhaust the host's process table unless an
// operator says so.
const (
	// hostPidsPercent of kernel.pid_max is left to the host by default.
	hostPidsPercent = 25
	// maxSandboxPids is the default pids.max of a sandbox on a host whose
	// budget allows it (engine.DefaultPidsLimit); minSandboxPids the least
	// a sized default goes down to.
	maxSandboxPids = 4096
	minSandboxPids = 64
	// A tenant may by default hold this share of what the node can run
	// (sandboxes of the default size) and of its free disk.
	tenantShareDivisor = 2
	// defaultSnapshotQuota: enough for an agent's checkpoints, small
	// enough that one tenant's rows and images stay a small part of a node.
	defaultSnapshotQuota = 100
)

// pidMax reads kernel.pid_max, the size of the host's process table.
func pidMax() (int64, error) {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return 0, fmt.Errorf("read kernel.pid_max: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("bad kernel.pid_max %q", strings.TrimSpace(string(b)))
	}
	return n, nil
}

// loadPids reads SNAPGATE_NODE_PIDS, what this node's sandboxes' pids.max
// may add up to (default: kernel.pid_max less hostPidsPercent; 0 turns
// the check off), which must stay below pid_max.
func loadPids(getenv func(string) string, pidMax int64) (int64, error) {
	v := strings.TrimSpace(getenv("SNAPGATE_NODE_PIDS"))
	if v == "" {
		return pidMax * (100 - hostPidsPercent) / 100, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n >= pidMax {
		return 0, fmt.Errorf("SNAPGATE_NODE_PIDS must be 0 (unchecked) or an integer below kernel.pid_max (%d), leaving the host room to fork", pidMax)
	}
	return n, nil
}

// nodeSandboxes is how many sandboxes of the default size the node holds.
func nodeSandboxes(n NodeConfig) int64 {
	return max(1, min(int64(n.VCPUs/core.DefaultSandboxVCPUs), n.MemoryBytes/core.DefaultSandboxMemory))
}

// loadSandboxPids reads SNAPGATE_SANDBOX_PIDS_MAX, each sandbox's
// pids.max. The default shares the node's pids budget among as many
// sandboxes as the node holds plus its whole warm pool, at most
// maxSandboxPids: on a host with a small pid_max a full node then still
// fits its budget.
func loadSandboxPids(getenv func(string) string, n NodeConfig, warm int64) (int64, error) {
	if v := strings.TrimSpace(getenv("SNAPGATE_SANDBOX_PIDS_MAX")); v != "" {
		p, err := strconv.ParseInt(v, 10, 64)
		if err != nil || p < minSandboxPids || (n.Pids > 0 && p > n.Pids) {
			return 0, fmt.Errorf("SNAPGATE_SANDBOX_PIDS_MAX must be an integer from %d to SNAPGATE_NODE_PIDS (%d)", minSandboxPids, n.Pids)
		}
		return p, nil
	}
	if n.Pids == 0 {
		return maxSandboxPids, nil
	}
	return max(minSandboxPids, min(maxSandboxPids, n.Pids/(nodeSandboxes(n)+warm))), nil
}

// defaultQuotas is a tenant's share of the node: of the sandboxes it
// holds, and of the free space of the data dir's filesystem.
func defaultQuotas(n NodeConfig, dataDir string) (core.Quotas, error) {
	free, err := freeBytes(dataDir)
	if err != nil {
		return core.Quotas{}, fmt.Errorf("%w (or set SNAPGATE_QUOTA_STORAGE_BYTES)", err)
	}
	return core.Quotas{
		Sandboxes:    int(max(1, nodeSandboxes(n)/tenantShareDivisor)),
		Snapshots:    defaultSnapshotQuota,
		StorageBytes: max(1, free/tenantShareDivisor),
	}, nil
}

// freeBytes is the space unprivileged writers may still use on the
// filesystem of dir, or of its nearest existing parent (the data dir is
// made at start).
func freeBytes(dir string) (int64, error) {
	for p := dir; ; p = filepath.Dir(p) {
		var st syscall.Statfs_t
		err := syscall.Statfs(p, &st)
		if err == nil {
			return int64(st.Bavail) * st.Bsize, nil
		}
		if !errors.Is(err, syscall.ENOENT) || p == filepath.Dir(p) {
			return 0, fmt.Errorf("free space of the data dir %s: %w", dir, err)
		}
	}
}

// logCapacity states, once at start, the limits sized from the node (or
// set by the operator; 0 is unlimited or unchecked), so an operator sees
// what "unset" came to on this host.
func logCapacity(ctx context.Context, c Config, logger *slog.Logger) {
	logger.InfoContext(ctx, "node capacity and tenant quotas",
		"node_vcpus", c.Node.VCPUs, "node_memory_bytes", c.Node.MemoryBytes,
		"node_pids", c.Node.Pids, "sandbox_pids_max", c.Node.SandboxPids,
		"quota_sandboxes", c.Quotas.Sandboxes, "quota_snapshots", c.Quotas.Snapshots,
		"quota_storage_bytes", c.Quotas.StorageBytes)
}
