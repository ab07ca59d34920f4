package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapgate/snapgate/tests/testenv"
	"github.com/snapgate/snapgate/tests/testregistry"
)

const (
	heartbeatInterval = time.Second
	heartbeatTimeout  = 4 * time.Second
	apiKey            = "e2b_0123456789abcdef0123456789abcdef01234567"
	lsPrefix          = "/v2/sandboxes"
)

// Two nodes, A and B. A snapshot captured on A is started on B (placement
// sends the create, made at A's address, to B, the emptier node), which
// pulls it from the registry; its file reads back through either node.
// Then A's process dies: its sandbox is reported lost within the heartbeat
// timeout, while B keeps serving.
func TestTwoNodes(t *testing.T) {
	cl := startCluster(t)
	a, b, reg, db := cl.nodes[0], cl.nodes[1], cl.reg, cl.db

	// A: image snapshot, a box from it (an idle cluster places it where
	// asked), a file written in it, and a capture.
	snap := call(t, a.url, "POST", lsPrefix+"/snapshots", map[string]any{
		"name": "busybox", "docker_image": reg.Ref("busybox", "latest"), "fs_capacity_bytes": 1 << 30,
	}, http.StatusCreated)
	waitSnapshotReady(t, a.url, snap["id"].(string))
	boxA := call(t, a.url, "POST", lsPrefix+"/boxes", map[string]any{"snapshot_id": snap["id"], "name": "on-a"}, 0)
	wantNode(t, db, boxA["id"].(string), "a")
	execute(t, a.url, boxA["id"].(string), "mkdir -p /srv && echo made-on-a > /srv/note")
	captured := call(t, a.url, "POST", lsPrefix+"/boxes/on-a/snapshot", map[string]any{"name": "captured"}, 0)
	if captured["status"] != "ready" {
		t.Fatalf("capture: %v", captured)
	}

	// Through A's address: placement picks B (A holds a box), B pulls
	// the captured image from the registry.
	boxB := call(t, a.url, "POST", lsPrefix+"/boxes", map[string]any{"snapshot_id": captured["id"], "name": "on-b"}, 0)
	wantNode(t, db, boxB["id"].(string), "b")
	for _, via := range []*node{a, b} {
		if got := execute(t, via.url, boxB["id"].(string), "cat /srv/note"); got != "made-on-a\n" {
			t.Errorf("file read through node %s: %q, want %q", via.name, got, "made-on-a\n")
		}
	}
	// A's box answers through B as well, by name and through its dataplane,
	// and both vendors' APIs reach either box through either node.
	call(t, b.url, "GET", lsPrefix+"/boxes/on-a", nil, http.StatusOK)
	execute(t, b.url, boxA["id"].(string), "true")
	infoB := call(t, a.url, "GET", "/sandboxes/"+boxB["id"].(string), nil, http.StatusOK)
	call(t, b.url, "GET", "/sandboxes/"+boxA["id"].(string), nil, http.StatusOK)
	// envd finds its sandbox by header, not path: through A as well.
	if got := envdRead(t, a.url, boxB["id"].(string), infoB["envdAccessToken"].(string), "/srv/note"); got != "made-on-a\n" {
		t.Errorf("envd read of B's box through A: %q, want %q", got, "made-on-a\n")
	}
	// A server in B's box answers through A too: the port proxy claims
	// the request by its headers and A forwards it to B.
	execute(t, a.url, boxB["id"].(string), "mkdir -p /tmp/www && echo port-on-b > /tmp/www/index.html && httpd -p 8000 -h /tmp/www </dev/null >/dev/null 2>&1")
	if got := portGet(t, a.url, boxB["id"].(string), 8000, "/index.html"); got != "port-on-b\n" {
		t.Errorf("port 8000 of B's box through A: %q, want %q", got, "port-on-b\n")
	}

	// A service URL of B's box works through A: the proxied request is
	// answered by B, which holds the box.
	serviceThroughOtherNode(t, a, b, boxB["id"].(string))

	// A dies without a word.
	a.stop(syscall.SIGKILL)
	killed := time.Now()
	lost := waitLost(t, db, boxA["id"].(string), heartbeatTimeout+2*heartbeatInterval+5*time.Second)
	t.Logf("node a's box reported lost %.1fs after the kill: %s", time.Since(killed).Seconds(), lost)
	if !strings.HasPrefix(lost, "lost: the server running it stopped answering at ") {
		t.Errorf("status message %q, want lost: the server running it stopped answering at …", lost)
	}
	call(t, b.url, "GET", lsPrefix+"/boxes/on-a", nil, http.StatusNotFound)
	call(t, b.url, "GET", "/sandboxes/"+boxA["id"].(string), nil, http.StatusNotFound)
	if got := execute(t, b.url, boxB["id"].(string), "cat /srv/note"); got != "made-on-a\n" {
		t.Errorf("node b after a died: %q", got)
	}
	call(t, b.url, "DELETE", lsPrefix+"/boxes/on-b", nil, 0)
}

// snapgateBinary is SNAPGATE_BIN, else a fresh build of cmd/snapgate.
func snapgateBinary(t *testing.T, root string) string {
	if bin := os.Getenv("SNAPGATE_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "snapgate")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/snapgate")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// call sends a JSON request and decodes the JSON answer; want 0 means any 2xx.
func call(t *testing.T, base, method, path string, body any, want int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if (want == 0 && resp.StatusCode/100 != 2) || (want != 0 && resp.StatusCode != want) {
		t.Fatalf("%s %s%s: %d %s (want %d)", method, base, path, resp.StatusCode, raw, want)
	}
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return out
}

// execute runs command in a box through its dataplane at base and returns stdout.
func execute(t *testing.T, base, boxID, command string) string {
	t.Helper()
	r := call(t, base, "POST", "/dataplane/"+boxID+"/execute", map[string]any{"command": command, "timeout": 30}, http.StatusOK)
	if code, _ := r["exit_code"].(float64); code != 0 {
		t.Fatalf("%q through %s exited %v: %v", command, base, code, r)
	}
	s, _ := r["stdout"].(string)
	return s
}

// envdRead reads a file of a sandbox through envd at base, routed by the
// E2b-Sandbox-Id header as the SDKs do with E2B_SANDBOX_URL.
func envdRead(t *testing.T, base, id, token, path string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", base+"/files?path="+url.QueryEscape(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("E2b-Sandbox-Id", id)
	req.Header.Set("X-Access-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("envd GET /files %s of %s through %s: %d %s", path, id, base, resp.StatusCode, raw)
	}
	return string(raw)
}

// portGet GETs path from port of a sandbox through the port proxy at base,
// routed by the E2b-Sandbox-Id and E2b-Sandbox-Port headers, retrying
// while the server in the sandbox starts.
func portGet(t *testing.T, base, id string, port int, path string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, err := http.NewRequestWithContext(t.Context(), "GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("E2b-Sandbox-Id", id)
		req.Header.Set("E2b-Sandbox-Port", fmt.Sprint(port))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			return string(raw)
		case time.Now().After(deadline):
			t.Fatalf("GET %s from port %d of %s through %s: %d %s", path, port, id, base, resp.StatusCode, raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitSnapshotReady(t *testing.T, base, id string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		s := call(t, base, "GET", lsPrefix+"/snapshots/"+id, nil, http.StatusOK)
		switch s["status"] {
		case "ready":
			return
		case "failed":
			t.Fatalf("snapshot failed: %v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("snapshot %s not ready within 2m", id)
}

func wantNode(t *testing.T, db *sql.DB, id, want string) {
	t.Helper()
	var got string
	if err := db.QueryRowContext(t.Context(), "SELECT node FROM sandboxes WHERE id = $1", id).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("sandbox %s is on node %q, want %q", id, got, want)
	}
}

// waitLost waits until the sandbox's row is failed and returns its status
// message; it fails the test when that takes longer than within.
func waitLost(t *testing.T, db *sql.DB, id string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var state, msg string
		if err := db.QueryRowContext(t.Context(), "SELECT state, status_message FROM sandboxes WHERE id = $1", id).Scan(&state, &msg); err != nil {
			t.Fatal(err)
		}
		if state == "failed" {
			return msg
		}
		if state != "running" {
			t.Fatalf("sandbox %s is %s (%s), want running until lost", id, state, msg)
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox %s of the dead node still running after %s", id, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// cluster is two running nodes, their registry and their database.
type cluster struct {
	nodes []*node
	reg   *testregistry.Registry
	db    *sql.DB
}

// startCluster starts nodes a and b (skipping without root or ip); all is
// stopped and removed at cleanup.
func startCluster(t *testing.T) *cluster {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, containerd)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	pgURL := testenv.Postgres(t)
	bin := snapgateBinary(t, root)
	net := newNetwork(t, 2)

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	reg, err := testregistry.Start(ctx, testregistry.WithListenAddress(net.hostAddr()+":0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	img, err := testregistry.BusyboxImage()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Push(ctx, "busybox", "latest", img); err != nil {
		t.Fatal(err)
	}

	// Postgres listens on loopback only; its unix socket reaches every
	// network namespace.
	u, _ := url.Parse(pgURL)
	socketDSN := fmt.Sprintf("postgres://postgres@%s?host=/var/run/postgresql&sslmode=disable", u.Path)
	nodes := make([]*node, 2)
	// Every node opens the secrets the others sealed: one key for all.
	secretKey := make([]byte, 32)
	_, _ = rand.Read(secretKey)
	for i, name := range []string{"a", "b"} {
		dataDir := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		ns := "snapgate-cluster-" + name
		sock := startContainerd(t, root, dataDir, ns)
		addr := net.addr(i) + ":8080"
		nodes[i] = startNode(t, bin, net.ns[i], name, "http://"+addr, dataDir, map[string]string{
			"SNAPGATE_LISTEN": addr, "SNAPGATE_DATA_DIR": dataDir, "SNAPGATE_DATABASE_URL": socketDSN,
			"SNAPGATE_CONTAINERD_ADDRESS": sock, "SNAPGATE_CONTAINERD_NAMESPACE": ns,
			"SNAPGATE_NODE_NAME": name, "SNAPGATE_NODE_VCPUS": "4", "SNAPGATE_NODE_MEMORY_BYTES": fmt.Sprint(4 << 30),
			"SNAPGATE_HEARTBEAT_INTERVAL": heartbeatInterval.String(), "SNAPGATE_HEARTBEAT_TIMEOUT": heartbeatTimeout.String(),
			"SNAPGATE_INSECURE_REGISTRIES": reg.Addr(), "SNAPGATE_SNAPSHOT_REGISTRY": reg.Addr() + "/snapgate",
			"SNAPGATE_BOOTSTRAP_API_KEY": apiKey, "SNAPGATE_BOOTSTRAP_TENANT": "cluster", "SNAPGATE_WARM_POOL": "0",
			"SNAPGATE_SECRET_KEY":      base64.StdEncoding.EncodeToString(secretKey),
			"SNAPGATE_QUOTA_SANDBOXES": "0", "SNAPGATE_QUOTA_SNAPSHOTS": "0", "SNAPGATE_QUOTA_STORAGE_BYTES": "0",
		})
	}
	db, err := sql.Open("pgx", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &cluster{nodes: nodes, reg: reg, db: db}
}

// serviceThroughOtherNode serves a page from boxID (on node b) with
// busybox httpd and fetches it through its service URL at node a's
// address, with the token and without.
func serviceThroughOtherNode(t *testing.T, a, b *node, boxID string) {
	t.Helper()
	// Port 8001: the E2B port test serves on 8000 of the same box.
	execute(t, b.url, boxID, "mkdir -p /tmp/svc && echo served-by-b > /tmp/svc/index.html && httpd -p 8001 -h /tmp/svc")
	su := call(t, a.url, "POST", lsPrefix+"/boxes/on-b/service-url", map[string]any{"port": 8001}, http.StatusOK)
	page := su["service_url"].(string) + "index.html"
	if !strings.HasPrefix(page, a.url) {
		t.Fatalf("service_url %s, want it at node a's address %s", page, a.url)
	}
	get := func(token string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", page, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("X-Langsmith-Sandbox-Service-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := get(su["token"].(string))
		if code == http.StatusOK && body == "served-by-b\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("service of B's box through A: %d %q", code, body)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if code, _ := get(""); code != http.StatusForbidden {
		t.Errorf("without the token through A: %d, want 403", code)
	}
}
