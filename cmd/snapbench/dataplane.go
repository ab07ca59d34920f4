package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The dataplane part drives the in-sandbox APIs through the
// vendors' official JS SDKs (tests/sdk/bench/dataplane.mjs, one node process
// per step, timed inside node around the SDK call) against the validation-on
// snapgate, and compares:
//   - commands.run('true') (E2B) and sandbox.run('true') (LangSmith, over the
//     WebSocket and over POST /execute) with `ctr task exec` of `true` in the
//     same container on the same containerd (a sandbox's id is its
//     container's id); the ctr side includes the CLI's start-up;
//   - files.write/files.read and sandbox.write/sandbox.read of one
//     -transfer-mib file with `cp` of the same file on the same disk.

// sdkVendor is one SDK as the bench drives it. dataplane.mjs create answers
// the sandbox's id (its container's id) and the name the SDK and the API
// address it by (E2B: the id again; LangSmith: the box name).
type sdkVendor struct {
	name, pkg  string
	transports []string          // dataplane.mjs exec transports, the SDK's default first
	execLabels map[string]string // per transport
	up, down   string
	apiPath    string // + name: the sandbox in the vendor's API, for DELETE
}

var sdkVendors = []sdkVendor{
	{
		name: "E2B", pkg: "e2b", transports: []string{"connect-rpc"},
		execLabels: map[string]string{"connect-rpc": "commands.run('true') (Connect RPC process.Start stream)"},
		up:         "files.write(ReadableStream of the file, octet-stream)",
		down:       "files.read(format 'stream') piped to a local file",
		apiPath:    "/sandboxes/",
	},
	{
		name: "LangSmith", pkg: "langsmith", transports: []string{"ws", "http"},
		execLabels: map[string]string{
			"ws":   "sandbox.run('true') over WebSocket (default: ws installed)",
			"http": "sandbox.run('true') over POST /execute (no ws)",
		},
		up:      "sandbox.write(file read to memory; SDK: Blob in FormData)",
		down:    "sandbox.read (body in memory), written to a local file",
		apiPath: "/api/v2/sandboxes/boxes/",
	},
}

type execSeries struct {
	label string
	d     []time.Duration
}

type vendorResult struct {
	v              sdkVendor
	version        string
	id, name       string // the sandbox: container id, SDK/API name
	execs          []execSeries
	ctr            []time.Duration
	up, down       []time.Duration
	upCPU, downCPU []transferCPU
}

// transferCPU is the CPU time one transfer step cost.
type transferCPU struct {
	sdk      time.Duration // the node process, during the timed call
	snapgate time.Duration // the snapgate process, during the node process
}

type dataplaneResults struct {
	vendors   []*vendorResult
	cp        []time.Duration
	bytes     int64
	cached    float64 // share of the source in the page cache before the measured cp runs
	sameFS    string
	loadStart string
	ports     stepResult // E2B's port proxy against the sandbox's address
}

// dataplaneBench holds what one dataplane run set up.
type dataplaneBench struct {
	cfg      config
	env      *benchEnv
	dir      string // local files: the source, cp's copy, downloads
	src      string
	snapshot string
}

func runDataplaneBench(ctx context.Context, cfg config, env *benchEnv) error {
	res := &dataplaneResults{loadStart: loadAvg(), bytes: int64(cfg.transferMiB) << 20}
	b := &dataplaneBench{cfg: cfg, env: env, dir: filepath.Join(env.work, "dataplane")}
	if err := b.checkNode(ctx); err != nil {
		return err
	}
	img, err := pushUnique(ctx, env.reg, imageKinds["busybox"], "dataplane-"+randomHex(4))
	if err != nil {
		return err
	}
	if b.snapshot, err = readySnapshot(ctx, env, env.on, img.ref); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	// Deferred calls run last-in first-out: the sandboxes go before their snapshot.
	defer b.deleteVia(ctx, "/api/v2/sandboxes/snapshots/"+b.snapshot)
	for _, v := range sdkVendors {
		out, err := b.node(ctx, nil, "create", v.pkg)
		if err != nil {
			return err
		}
		if out.ID == "" || out.Name == "" {
			return fmt.Errorf("%s create: no sandbox id or name in the result", v.name)
		}
		r := &vendorResult{v: v, version: b.sdkVersion(v.pkg), id: out.ID, name: out.Name}
		defer b.deleteVia(ctx, v.apiPath+r.name)
		res.vendors = append(res.vendors, r)
		if err := b.execRuns(ctx, r); err != nil {
			return fmt.Errorf("%s exec: %w", v.name, err)
		}
	}
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return err
	}
	b.src = filepath.Join(b.dir, "src.bin")
	if err := writeRandomFile(b.src, res.bytes); err != nil {
		return err
	}
	res.sameFS = b.sameFilesystem(ctx, res.vendors[0].id)
	if err := b.transfers(ctx, res); err != nil {
		return err
	}
	progress("  dataplane E2B: a port of the sandbox through the proxy and directly")
	if res.ports, err = b.node(ctx, map[string]string{"BENCH_RUNS": strconv.Itoa(b.cfg.transferRuns)}, "ports", "e2b", res.vendors[0].name); err != nil {
		return fmt.Errorf("E2B ports: %w", err)
	}
	reportDataplane(os.Stdout, cfg, res)
	return nil
}

// checkNode fails early, with the fix, when node or the SDKs are missing.
func (b *dataplaneBench) checkNode(ctx context.Context) error {
	if _, err := exec.LookPath(b.cfg.nodeBin); err != nil {
		return fmt.Errorf("node not found (-node, or -dataplane=false): %w", err)
	}
	for _, pkg := range []string{"e2b", "langsmith", "ws"} {
		if _, err := os.Stat(filepath.Join(b.cfg.sdkDir, "node_modules", pkg, "package.json")); err != nil {
			return fmt.Errorf("SDK %s not installed in %s: run `npm ci` there (bench/run.sh does): %w", pkg, b.cfg.sdkDir, err)
		}
	}
	return ctx.Err()
}

func (b *dataplaneBench) sdkVersion(pkg string) string {
	raw, err := os.ReadFile(filepath.Join(b.cfg.sdkDir, "node_modules", pkg, "package.json"))
	var p struct{ Version string }
	if err != nil || json.Unmarshal(raw, &p) != nil {
		return pkg + "@?"
	}
	return pkg + "@" + p.Version
}

// stepResult is the JSON line a dataplane.mjs step prints.
type stepResult struct {
	ID    string    `json:"id"`   // create: the sandbox's container id
	Name  string    `json:"name"` // create: how the SDK and the API address it
	Bytes int64     `json:"bytes"`
	MS    []float64 `json:"ms"`     // wall time of each timed run, in milliseconds
	CPUMS []float64 `json:"cpu_ms"` // node's CPU time in each, in milliseconds
	// ports: new-connection GETs and Bytes-long downloads, each through
	// the port proxy and directly to the sandbox's address.
	ProxyConnectMS  []float64 `json:"proxy_connect_ms"`
	DirectConnectMS []float64 `json:"direct_connect_ms"`
	ProxyMS         []float64 `json:"proxy_ms"`
	DirectMS        []float64 `json:"direct_ms"`
}

func (r stepResult) durations() []time.Duration { return millisToDurations(r.MS) }

func millisToDurations(ms []float64) []time.Duration {
	ds := make([]time.Duration, len(ms))
	for i, m := range ms {
		ds[i] = time.Duration(m * float64(time.Millisecond))
	}
	return ds
}

// node runs one dataplane.mjs step and decodes its result line.
func (b *dataplaneBench) node(ctx context.Context, extra map[string]string, args ...string) (stepResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.cfg.nodeBin, append([]string{"dataplane.mjs"}, args...)...)
	cmd.Dir = b.cfg.sdkDir
	set := map[string]string{
		"SNAPGATE_URL": b.env.on.base, "SNAPGATE_API_KEY": b.env.on.key, "BENCH_SNAPSHOT": b.snapshot,
	}
	for k, v := range extra {
		set[k] = v
	}
	cmd.Env = childEnv(set)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var res stepResult
	if err := cmd.Run(); err != nil {
		return res, fmt.Errorf("node dataplane.mjs %s: %w: %s\n%s", strings.Join(args, " "), err,
			lastLines(stderr.String(), 8), b.env.on.logTail(10))
	}
	// The result is the last line; an SDK may have printed warnings before.
	line := lastLines(stdout.String(), 1)
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return res, fmt.Errorf("node dataplane.mjs %s: no JSON result in %q: %w", strings.Join(args, " "), line, err)
	}
	return res, nil
}

// Round trips are timed in blocks of execBlock per side, each node process
// first running execWarmup untimed ones.
const execBlock, execWarmup = 10, 3

// execRuns times the SDK's round trip on every transport and `ctr task exec`
// in the same container, in blocks of execBlock runs that alternate, so
// load that comes and goes on a shared machine hits every side alike. Each
// node process warms its SDK up (connection, JIT) before it is timed.
func (b *dataplaneBench) execRuns(ctx context.Context, r *vendorResult) error {
	r.execs = make([]execSeries, len(r.v.transports))
	for done := 0; done < b.cfg.execRuns; done += execBlock {
		n := min(execBlock, b.cfg.execRuns-done)
		progress("  dataplane %s: run('true') %d-%d of %d on %s and ctr task exec in container %s",
			r.v.name, done+1, done+n, b.cfg.execRuns, strings.Join(r.v.transports, ", "), r.id)
		for i, t := range r.v.transports {
			out, err := b.node(ctx, map[string]string{"BENCH_WARMUP": strconv.Itoa(execWarmup), "BENCH_RUNS": strconv.Itoa(n)},
				"exec", r.v.pkg, r.name, t)
			if err != nil {
				return err
			}
			d := out.durations()
			if len(d) != n {
				return fmt.Errorf("%s: got %d timings, want %d", t, len(d), n)
			}
			r.execs[i].label = r.v.execLabels[t]
			r.execs[i].d = append(r.execs[i].d, d...)
		}
		skip := 0 // ctr has nothing to warm but the page cache: once is enough
		if done == 0 {
			skip = execWarmup
		}
		for i := range skip + n {
			d, err := b.ctrExec(ctx, r.id, done+i)
			if err != nil {
				return err
			}
			if i >= skip {
				r.ctr = append(r.ctr, d)
			}
		}
	}
	return nil
}

func (b *dataplaneBench) ctrExec(ctx context.Context, container string, i int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	execID := fmt.Sprintf("snapbench-%d-%s", i, randomHex(3))
	cmd := exec.CommandContext(ctx, b.cfg.ctrBin, "--address", b.cfg.containerd, "-n", b.env.on.ns,
		"task", "exec", "--exec-id", execID, container, "true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("ctr task exec %s true: %w: %s", container, err, lastLines(out.String(), 5))
	}
	return d, nil
}

// deleteVia deletes a sandbox or snapshot through the API; at the end of the
// run, so with a context of its own.
func (b *dataplaneBench) deleteVia(ctx context.Context, path string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	a := api{p: b.env.on, c: b.env.httpc}
	if _, err := a.do(ctx, "DELETE", path, nil, 204); err != nil {
		progress("clean-up: %v", err)
	}
}
