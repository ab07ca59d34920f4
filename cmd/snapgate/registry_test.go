package main

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/core"
)

// useSnapshotRegistry makes the harness push snapshots to repo (before
// start).
func (h *harness) useSnapshotRegistry(repo string) {
	h.t.Helper()
	reg, err := core.NewSnapshotRegistry(repo, "", "")
	if err != nil {
		h.t.Fatal(err)
	}
	h.cfg.SnapshotRegistry = reg
}

// row reads a snapshot as stored, whatever its tenant.
func (h *harness) row(id string) *core.Snapshot {
	h.t.Helper()
	s, err := h.srv.store.GetSnapshot(context.Background(), "", id)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// manifestStatus is the registry's answer to a HEAD of repo@digest.
func (h *harness) manifestStatus(repo, digest string) int {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+h.reg.Addr()+"/v2/"+repo+"/manifests/"+digest, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A node that lacks a captured snapshot's image pulls it back from the
// snapshot registry when a sandbox starts from it, with the file the
// source sandbox wrote; deleting the snapshot deletes its manifest there.
func TestSnapshotRegistryRoundTrip(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, filepath.Join(dir, "snapgate.db"), dir)
	h.useSnapshotRegistry(h.reg.Addr() + "/snaps")
	h.start(true)
	src := h.wait(h.create("reg-src", h.image, 1<<30))
	if src["status"] != "ready" {
		t.Fatalf("source snapshot: %v", src)
	}
	if ref := h.row(src["id"].(string)).RegistryRef; !strings.HasPrefix(ref, h.reg.Addr()+"/snaps/it:"+src["id"].(string)+"@sha256:") {
		t.Errorf("built snapshot's registry ref = %q", ref)
	}
	sb := h.e2bCreate(src["id"].(string))
	h.exec(sb, "sh", "-c", "echo from-node-a > /root/marker")
	code, capd := h.do("POST", "/sandboxes/"+sb+"/snapshots", `{"name":"reg-cap"}`)
	if code != 201 {
		t.Fatalf("capture: %d %v", code, capd)
	}
	code, ls := h.do("GET", "/api/v2/sandboxes/snapshots/reg-cap", "")
	if code != 200 || ls["status"] != "ready" {
		t.Fatalf("captured snapshot: %d %v", code, ls)
	}
	snap := h.row(ls["id"].(string))
	if !strings.HasSuffix(snap.RegistryRef, "@"+snap.ImageDigest) || h.manifestStatus("snaps/it", snap.ImageDigest) != http.StatusOK {
		t.Fatalf("capture's registry ref %q (digest %s) is not in the registry", snap.RegistryRef, snap.ImageDigest)
	}
	// The image build and the capture were pushed: counted in /metrics.
	fams := h.scrape()
	if n, _ := value(fams, "snapgate_image_pushes_total", nil); n != 2 {
		t.Errorf("snapgate_image_pushes_total = %v, want 2 (the image snapshot and the capture)", n)
	}
	if n, _ := value(fams, "snapgate_image_push_bytes_total", nil); n <= 0 {
		t.Errorf("snapgate_image_push_bytes_total = %v, want the pushed bytes", n)
	}

	// Node B's view: neither the capture's image nor its base is here.
	if code, _ := h.do("DELETE", "/sandboxes/"+sb, ""); code != 204 {
		t.Fatalf("kill source: %d", code)
	}
	ctx := context.Background()
	for _, name := range []string{snap.ImageRef, core.ImageRefFor(src["id"].(string))} {
		if err := h.srv.engine.RemoveImage(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	box := h.e2bCreate(snap.ID)
	if got := h.exec(box, "cat", "/root/marker"); got != "from-node-a\n" {
		t.Errorf("marker in a sandbox from the pulled capture = %q", got)
	}
	if !slices.Contains(h.images(), snap.ImageRef) {
		t.Errorf("the pulled image is not cached: %v", h.images())
	}
	if code, _ := h.do("DELETE", "/sandboxes/"+box, ""); code != 204 {
		t.Errorf("kill: %d", code)
	}

	if code, _ := h.do("DELETE", "/api/v2/sandboxes/snapshots/reg-cap", ""); code != 204 {
		t.Fatalf("delete snapshot: %d", code)
	}
	if got := h.manifestStatus("snaps/it", snap.ImageDigest); got != http.StatusNotFound {
		t.Errorf("registry answers %d for a deleted snapshot's manifest, want 404", got)
	}
}

// A build whose push fails ends failed, saying which registry and why.
func TestSnapshotRegistryPushFailureIsActionable(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, filepath.Join(dir, "snapgate.db"), dir)
	h.useSnapshotRegistry("127.0.0.1:1/snaps")
	h.start(true)
	got := h.wait(h.create("reg-fail", h.image, 1<<30))
	const want = "pushing to the snapshot registry 127.0.0.1:1/snaps failed: registry 127.0.0.1:1 is unreachable: connection refused"
	if got["status"] != "failed" || got["status_message"] != want {
		t.Errorf("snapshot %v; want failed with %q", got, want)
	}
	if slices.Contains(h.images(), core.ImageRefFor(got["id"].(string))) {
		t.Errorf("a snapshot that failed to push kept its image")
	}
}
