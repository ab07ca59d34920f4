// Package cluster tests snapgate as several nodes: separate processes, each
// with its own containerd, in network namespaces of their own, sharing one
// Postgres and one OCI registry. Needs root and iproute2; skips otherwise.
package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapgate/snapgate/tests/testenv"
)

// network is a bridge on the host (holding .1) and one namespace per node
// joined to it by a veth pair (node i holds .i+2).
type network struct {
	prefix string // "10.a.b."
	bridge string
	ns     []string
}

// run runs a command and fails the test with its output when it fails.
func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func newNetwork(t *testing.T, nodes int) *network {
	t.Helper()
	id := testenv.RandomSuffix()[:6]
	n := &network{prefix: fmt.Sprintf("10.%d.%d.", 200+rand.IntN(50), rand.IntN(250)), bridge: "sgc" + id}
	run(t, "ip", "link", "add", n.bridge, "type", "bridge")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", n.bridge).Run() })
	run(t, "ip", "addr", "add", n.prefix+"1/24", "dev", n.bridge)
	run(t, "ip", "link", "set", n.bridge, "up")
	for i := range nodes {
		ns, host := fmt.Sprintf("sgc-%s-%d", id, i), fmt.Sprintf("sgc%s%d", id, i)
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", host+"p")
		run(t, "ip", "link", "set", host+"p", "netns", ns)
		run(t, "ip", "link", "set", host, "master", n.bridge)
		run(t, "ip", "link", "set", host, "up")
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
		run(t, "ip", "-n", ns, "addr", "add", n.addr(i)+"/24", "dev", host+"p")
		run(t, "ip", "-n", ns, "link", "set", host+"p", "up")
		n.ns = append(n.ns, ns)
	}
	return n
}

// addr is node i's IP address.
func (n *network) addr(i int) string { return fmt.Sprintf("%s%d", n.prefix, i+2) }

// hostAddr is the host's address on the bridge (the registry listens there).
func (n *network) hostAddr() string { return n.prefix + "1" }

// containerd starts a private containerd for dataDir and returns its socket;
// it and every sandbox it runs in namespace ns are gone at cleanup.
func startContainerd(t *testing.T, root, dataDir, ns string) string {
	t.Helper()
	script := filepath.Join(root, "deploy", "containerd.sh")
	cmd := exec.Command(script, "up", dataDir)
	// Our own daemon, not the one the rest of the suite uses.
	cmd.Env = withoutEnv(os.Environ(), "SNAPGATE_CONTAINERD_ADDRESS")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("containerd.sh up %s: %v\n%s", dataDir, err, stderr.String())
	}
	sock := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		// Sandboxes outlive containerd (their shims): remove them first.
		clean := fmt.Sprintf(`c="$(%[5]s bin)/ctr --address %[1]s -n %[2]s"
%[3]s release %[4]s
$c tasks ls -q 2>/dev/null | xargs -r -n1 $c tasks kill -s KILL >/dev/null 2>&1 || true
sleep 0.5
$c containers ls -q 2>/dev/null | xargs -r -n1 $c tasks rm -f >/dev/null 2>&1 || true
$c containers ls -q 2>/dev/null | xargs -r $c containers rm >/dev/null 2>&1 || true`, sock, ns,
			filepath.Join(root, "deploy", "disks.sh"), dataDir, filepath.Join(root, "deploy", "engine.sh"))
		_ = exec.Command("bash", "-c", clean).Run()
		if out, err := exec.Command(script, "down", dataDir).CombinedOutput(); err != nil {
			t.Logf("containerd.sh down %s: %v\n%s", dataDir, err, out)
		}
	})
	return sock
}

func withoutEnv(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// node is a snapgate process in a network namespace.
type node struct {
	name, url, log string
	cmd            *exec.Cmd
	done           chan struct{}
}

// startNode runs bin in namespace ns with env; its output goes to a log
// file (printed when the test fails), never to the test's stdout.
func startNode(t *testing.T, bin, ns, name, url, dataDir string, env map[string]string) *node {
	t.Helper()
	nd := &node{name: name, url: url, log: filepath.Join(dataDir, "snapgate.log"), done: make(chan struct{})}
	logf, err := os.Create(nd.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	// nsenter, not ip netns exec: that one also makes a mount namespace,
	// and the sandbox disks snapgate mounts must reach containerd's.
	nd.cmd = exec.Command("nsenter", "--net=/var/run/netns/"+ns, bin, "serve")
	nd.cmd.Env = withoutEnv(os.Environ(), "SNAPGATE_CONTAINERD_ADDRESS")
	for k, v := range env {
		nd.cmd.Env = append(nd.cmd.Env, k+"="+v)
	}
	nd.cmd.Stdout, nd.cmd.Stderr = logf, logf
	nd.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := nd.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = nd.cmd.Wait(); close(nd.done) }()
	t.Cleanup(func() {
		nd.stop(syscall.SIGTERM)
		if t.Failed() {
			b, _ := os.ReadFile(nd.log)
			t.Logf("log of node %s:\n%s", name, tail(string(b), 60))
		}
	})
	nd.waitReady(t)
	return nd
}

// stop signals the process (nsenter has exec'd into snapgate) and
// waits for it to end.
func (nd *node) stop(sig syscall.Signal) {
	select {
	case <-nd.done:
		return
	default:
	}
	_ = nd.cmd.Process.Signal(sig)
	select {
	case <-nd.done:
	case <-time.After(20 * time.Second):
		_ = nd.cmd.Process.Kill()
		<-nd.done
	}
}

func (nd *node) waitReady(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, nd.url+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-nd.done:
			b, _ := os.ReadFile(nd.log)
			t.Fatalf("node %s exited during start-up:\n%s", nd.name, tail(string(b), 40))
		case <-ctx.Done():
			t.Fatalf("node %s not ready at %s within 60s", nd.name, nd.url)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
