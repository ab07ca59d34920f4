package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/core"
)

func TestLoadConfigQuotas(t *testing.T) {
	c, err := LoadConfig(env(map[string]string{
		"SNAPGATE_QUOTA_SANDBOXES": "0", "SNAPGATE_QUOTA_SNAPSHOTS": "0", "SNAPGATE_QUOTA_STORAGE_BYTES": "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Quotas != (core.Quotas{}) {
		t.Errorf("quotas set to 0: %+v, want none (unlimited)", c.Quotas)
	}
	c, err = LoadConfig(env(map[string]string{
		"SNAPGATE_QUOTA_SANDBOXES": "5", "SNAPGATE_QUOTA_SNAPSHOTS": "20", "SNAPGATE_QUOTA_STORAGE_BYTES": "10737418240",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(core.Quotas{Sandboxes: 5, Snapshots: 20, StorageBytes: 10 << 30}, c.Quotas); d != "" {
		t.Errorf("quotas (-want +got):\n%s", d)
	}
	_, err = LoadConfig(env(map[string]string{
		"SNAPGATE_QUOTA_SANDBOXES": "-1", "SNAPGATE_QUOTA_SNAPSHOTS": "many", "SNAPGATE_QUOTA_STORAGE_BYTES": "10GiB",
	}))
	for _, want := range []string{"SNAPGATE_QUOTA_SANDBOXES", "SNAPGATE_QUOTA_SNAPSHOTS", "SNAPGATE_QUOTA_STORAGE_BYTES"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// Unset quotas are a share of the node, never unlimited: half the
// sandboxes of the default size it holds, half the free space of the data
// dir's filesystem, 100 snapshots.
func TestLoadConfigQuotaDefaultsShareTheNode(t *testing.T) {
	dir := t.TempDir()
	c, err := LoadConfig(env(map[string]string{
		"SNAPGATE_DATA_DIR": dir + "/not-yet", "SNAPGATE_NODE_VCPUS": "8", "SNAPGATE_NODE_MEMORY_BYTES": fmt.Sprint(2 << 30),
	}))
	if err != nil {
		t.Fatal(err)
	}
	free, err := freeBytes(dir)
	if err != nil {
		t.Fatal(err)
	}
	// 2 GiB holds 4 sandboxes of 512 MiB (8 vCPUs would hold 8).
	if c.Quotas.Sandboxes != 2 || c.Quotas.Snapshots != 100 {
		t.Errorf("default sandbox and snapshot quotas %+v, want 2 and 100", c.Quotas)
	}
	if q := c.Quotas.StorageBytes; q <= 0 || q > free/2+free/100 || q < free/2-free/100 {
		t.Errorf("default storage quota %d, want about half of %d free", q, free)
	}
	c, err = LoadConfig(env(map[string]string{"SNAPGATE_QUOTA_SANDBOXES": "3", "SNAPGATE_QUOTA_STORAGE_BYTES": "0"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Quotas.Sandboxes != 3 || c.Quotas.StorageBytes != 0 || c.Quotas.Snapshots != 100 {
		t.Errorf("quotas with sandboxes 3 and storage 0 set: %+v, want 3, unlimited storage, default snapshots", c.Quotas)
	}
}

// The pids.max of a node's sandboxes add up to at most its budget, by
// default kernel.pid_max less a quarter for the host; the default cap of a
// sandbox shares it among the sandboxes the node holds and its warm pool.
func TestLoadConfigPidsBudget(t *testing.T) {
	pm, err := pidMax()
	if err != nil {
		t.Skip(err)
	}
	c, err := LoadConfig(env(map[string]string{
		"SNAPGATE_NODE_VCPUS": "16", "SNAPGATE_NODE_MEMORY_BYTES": fmt.Sprint(64 << 30),
		"SNAPGATE_WARM_POOL": "1", "SNAPGATE_WARM_IMAGES": "4",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := pm * 3 / 4; c.Node.Pids != want {
		t.Errorf("default node pids %d, want 3/4 of pid_max %d = %d", c.Node.Pids, pm, want)
	}
	if want := min(4096, c.Node.Pids/(16+4)); c.Node.SandboxPids != want {
		t.Errorf("default sandbox pids.max %d, want %d", c.Node.SandboxPids, want)
	}
	if full := (16 + 4) * c.Node.SandboxPids; full > c.Node.Pids {
		t.Errorf("16 sandboxes and 4 warm ones hold %d pids, over the budget %d", full, c.Node.Pids)
	}
	c, err = LoadConfig(env(map[string]string{"SNAPGATE_NODE_PIDS": "10000", "SNAPGATE_SANDBOX_PIDS_MAX": "500"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Node.Pids != 10000 || c.Node.SandboxPids != 500 {
		t.Errorf("set pids %d and %d, want 10000 and 500", c.Node.Pids, c.Node.SandboxPids)
	}
	for _, bad := range []map[string]string{
		{"SNAPGATE_NODE_PIDS": fmt.Sprint(pm)},
		{"SNAPGATE_NODE_PIDS": "-1"},
		{"SNAPGATE_NODE_PIDS": "1000", "SNAPGATE_SANDBOX_PIDS_MAX": "2000"},
		{"SNAPGATE_SANDBOX_PIDS_MAX": "10"},
	} {
		if _, err := LoadConfig(env(bad)); err == nil || !strings.Contains(err.Error(), "PIDS") {
			t.Errorf("LoadConfig(%v) = %v, want a pids error", bad, err)
		}
	}
}
