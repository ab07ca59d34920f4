package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// A node out of room (vCPUs, or the pids budget its sandboxes' pids.max
// add up to) refuses creates with each vendor's 429, and the bodies a
// tenant reads name no node, host, data dir or kernel setting.
func TestNodeCapacityRefusalsNameNoServer(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, filepath.Join(dir, "snapgate.db"), dir)
	h.cfg.WarmPool = 0
	h.cfg.NodeName = "node-secret-7.internal:" + h.cfg.DataDir
	h.cfg.Node.VCPUs = 4
	// Room for exactly one sandbox's pids.max.
	h.cfg.Node.SandboxPids = 256
	h.cfg.Node.Pids = 300
	h.start(true)
	h.wait(h.create("cap-src", h.image, 1<<30))
	leaks := []string{"node-secret-7", h.cfg.DataDir, "/var/lib", "/proc", "pid_max", dir}
	noLeak := func(what string, r quotaReply) {
		t.Helper()
		raw, _ := json.Marshal(r.body)
		for _, l := range leaks {
			if strings.Contains(string(raw), l) {
				t.Errorf("%s: body %s names %q", what, raw, l)
			}
		}
	}

	r := h.doFull("POST", "/api/v2/sandboxes/boxes", `{"snapshot_name":"cap-src","vcpus":8,"wait_for_ready":true}`)
	wantLangSmithQuota(t, "LangSmith box over the node's vCPUs", r, "no room on this server")
	noLeak("LangSmith vCPUs", r)
	// E2B takes a sandbox's size from its template, so only its pids
	// refusal is driven below.

	if code, box := h.do("POST", "/api/v2/sandboxes/boxes", `{"snapshot_name":"cap-src","wait_for_ready":true}`); code != 201 {
		t.Fatalf("first box: %d %v", code, box)
	}
	r = h.doFull("POST", "/api/v2/sandboxes/boxes", `{"snapshot_name":"cap-src","name":"cap-over","wait_for_ready":true}`)
	wantLangSmithQuota(t, "LangSmith box past the pids budget", r, "no room for another sandbox on this server")
	noLeak("LangSmith pids", r)
	r = h.doFull("POST", "/v2/sandboxes", `{"templateID":"cap-src","timeout":300}`)
	wantE2BQuota(t, "E2B sandbox past the pids budget", r, "no room for another sandbox on this server")
	noLeak("E2B pids", r)
}
