// Command snapbench measures snapgate on this machine and prints the figures
// the README quotes:
//
//   - create-to-ready: for the same image served by the same in-process
//     registry, the time from POST /api/v2/sandboxes/snapshots to the first GET
//     that shows "ready" against `ctr images pull` (fetch + unpack into
//     overlayfs) on the same containerd; medians of -runs runs and their ratio.
//     Every run of every side pulls an image with content of its own, since
//     containerd shares content across namespaces and would not fetch twice.
//     The containerd Go client's own Pull+unpack is printed as the floor.
//   - GET /api/v2/sandboxes/snapshots/{id} latency (p50/p99, throughput) under
//     -clients concurrent clients, request validation on against off.
//   - with -dataplane (dataplane.go): run('true') round trips through the
//     E2B and LangSmith JS SDKs against `ctr task exec` in the same
//     container, and a 256 MiB upload/download through each SDK against
//     `cp` on the same disk.
//
// snapgate runs as the real binary (`snapgate serve`), two processes with
// their own data dir, SQLite file and containerd namespace; the second has
// SNAPGATE_DISABLE_VALIDATION=1. Timings are reported, never judged: the
// exit status is non-zero only when something breaks (a failed build, an
// error answer, a process that dies).
//
//	snapbench -containerd /run/containerd/containerd.sock [-runs 7] [-duration 5s] [-clients 32]
//
// Everything it starts (processes, registry, containerd namespaces, temp
// dir) is stopped or removed before it exits, also on error or Ctrl-C.
package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/snapgate/snapgate/tests/testregistry"
)

type config struct {
	containerd   string
	snapgateBin  string
	ctrBin       string
	runs         int
	duration     time.Duration
	warmup       time.Duration
	clients      int
	poll         time.Duration
	settle       time.Duration
	buildTimeout time.Duration
	images       []string
	clientFloor  bool
	keep         bool
	// sandbox half: start latency and capture
	sandboxes     bool
	sandboxStarts int
	bigCapture    bool
	// dataplane half: round trips and transfers through the SDKs
	dataplane     bool
	dataplaneOnly bool
	execRuns      int
	transferRuns  int
	transferMiB   int
	sdkDir        string
	nodeBin       string
}

// benchEnv is what one benchmark run started.
type benchEnv struct {
	work     string
	reg      *testregistry.Registry
	ctrd     *containerd.Client
	version  string
	on, off  *snapgateProc
	loadAvg  string // 1-minute load average when the run started
	ctrNS    string // namespace of the ctr pulls
	clientNS string // namespace of the Go client pulls
	httpc    *http.Client
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "snapbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "snapbench: FAILED:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("snapbench", flag.ContinueOnError)
	var cfg config
	var imgs string
	fs.StringVar(&cfg.containerd, "containerd", "", "containerd socket address (required; see deploy/containerd.sh up)")
	fs.StringVar(&cfg.snapgateBin, "snapgate", "", "snapgate binary to run (default: go build ./cmd/snapgate into the temp dir)")
	fs.StringVar(&cfg.ctrBin, "ctr", "ctr", "ctr binary for the baseline")
	fs.IntVar(&cfg.runs, "runs", 7, "create-to-ready runs per side and image")
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "measured GET load per validation mode (split in two phases)")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "unmeasured GET load before each phase")
	fs.IntVar(&cfg.clients, "clients", 32, "concurrent GET clients")
	fs.DurationVar(&cfg.poll, "poll", 5*time.Millisecond, "GET interval while waiting for ready")
	fs.DurationVar(&cfg.settle, "settle", 500*time.Millisecond, "before each timed pull: sync(2), then wait this long, so writeback of the previous run's files is not charged to the next")
	fs.DurationVar(&cfg.buildTimeout, "build-timeout", 5*time.Minute, "a snapshot not ready by then is a failure")
	fs.StringVar(&imgs, "images", "busybox,many-files", "images for create-to-ready: busybox, many-files")
	fs.BoolVar(&cfg.clientFloor, "client-floor", true, "also time the containerd Go client's Pull+unpack in-process")
	fs.BoolVar(&cfg.sandboxes, "sandboxes", true, "also measure sandbox start latency and captures")
	fs.IntVar(&cfg.sandboxStarts, "sandbox-starts", 20, "sandbox starts per side for the start-latency figures")
	fs.BoolVar(&cfg.bigCapture, "big-capture", true, "include the 1 GiB capture (about a minute)")
	fs.BoolVar(&cfg.dataplane, "dataplane", true, "also measure run('true') and file transfers through both SDKs (needs node and tests/sdk/bench/node_modules)")
	fs.BoolVar(&cfg.dataplaneOnly, "dataplane-only", false, "measure only the dataplane (skip create-to-ready, GET latency, sandboxes)")
	fs.IntVar(&cfg.execRuns, "exec-runs", 50, "measured run('true') round trips per SDK transport and for ctr task exec")
	fs.IntVar(&cfg.transferRuns, "transfer-runs", 3, "measured upload/download/cp rounds")
	fs.IntVar(&cfg.transferMiB, "transfer-mib", 256, "size of the transferred file in MiB")
	fs.StringVar(&cfg.sdkDir, "sdk-dir", "tests/sdk/bench", "node workspace with dataplane.mjs and the SDKs installed")
	fs.StringVar(&cfg.nodeBin, "node", "node", "node binary for the SDK side")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temp dir (logs, SQLite files) and print its path")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.containerd == "" {
		return cfg, errors.New("-containerd is required")
	}
	// A relative socket path confuses the gRPC client; snapgate and ctr
	// also run from other directories.
	if !strings.Contains(cfg.containerd, "://") && !filepath.IsAbs(cfg.containerd) {
		abs, err := filepath.Abs(cfg.containerd)
		if err != nil {
			return cfg, err
		}
		cfg.containerd = abs
	}
	if cfg.runs < 1 || cfg.runs > 100 || cfg.clients < 1 || cfg.clients > 1024 || cfg.duration < 100*time.Millisecond ||
		cfg.poll <= 0 || cfg.warmup < 0 || cfg.settle < 0 {
		return cfg, errors.New("need 1 <= -runs <= 100, 1 <= -clients <= 1024, -duration >= 100ms, -poll > 0, -warmup >= 0, -settle >= 0")
	}
	if cfg.execRuns < 1 || cfg.transferRuns < 1 || cfg.transferMiB < 1 {
		return cfg, errors.New("need -exec-runs, -transfer-runs and -transfer-mib >= 1")
	}
	sdkDir, err := filepath.Abs(cfg.sdkDir)
	if err != nil {
		return cfg, err
	}
	cfg.sdkDir = sdkDir
	for _, name := range strings.Split(imgs, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if _, ok := imageKinds[name]; !ok {
			return cfg, fmt.Errorf("-images: unknown image %q (busybox, many-files)", name)
		}
		cfg.images = append(cfg.images, name)
	}
	return cfg, nil
}

// progress goes to stderr; the report goes to stdout.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "snapbench: "+format+"\n", args...)
}

func run(ctx context.Context, cfg config) (err error) {
	env := &benchEnv{httpc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	// Clean-ups run in reverse order, whatever happens.
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	env.loadAvg = loadAvg()
	env.work, err = os.MkdirTemp("", "snapbench-")
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() {
		if cfg.keep || err != nil {
			fmt.Fprintf(os.Stderr, "snapbench: logs kept in %s\n", env.work)
			return
		}
		_ = os.RemoveAll(env.work)
	})

	env.ctrd, env.version, err = connect(ctx, cfg.containerd)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() { env.ctrd.Close() })
	if stale := staleNamespaces(ctx, env.ctrd); len(stale) > 0 {
		progress("note: namespaces left by an earlier, interrupted run: %s (remove with `ctr -n NS images rm` and `ctr namespaces rm`)", strings.Join(stale, " "))
	}
	if _, err := exec.LookPath(cfg.ctrBin); err != nil {
		return fmt.Errorf("ctr not found: %w", err)
	}

	if cfg.snapgateBin == "" {
		cfg.snapgateBin = filepath.Join(env.work, "snapgate")
		progress("building snapgate")
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", cfg.snapgateBin, "./cmd/snapgate")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/snapgate (run from the repository root, or pass -snapgate): %w", err)
		}
	}

	env.reg, err = testregistry.Start(ctx)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() { _ = env.reg.Close() })

	suffix := randomHex(4)
	env.ctrNS, env.clientNS = "snapbench-ctr-"+suffix, "snapbench-client-"+suffix
	onNS, offNS := "snapbench-sg-on-"+suffix, "snapbench-sg-off-"+suffix
	// Namespaces go after the processes have stopped (appended first, so run last).
	cleanups = append(cleanups, func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
		defer cancel()
		for _, ns := range []string{onNS, offNS, env.ctrNS, env.clientNS} {
			if err := dropNamespace(cctx, env.ctrd, ns); err != nil {
				progress("clean-up: %v", err)
			}
		}
	})

	progress("starting snapgate (validation on), containerd %s %s, registry %s", cfg.containerd, env.version, env.reg.Addr())
	env.on, err = startSnapgate(ctx, cfg.snapgateBin, filepath.Join(env.work, "sg-on"), "validation on", onNS, cfg.containerd, env.reg.Addr(), false)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, env.on.Stop)
	if cfg.dataplaneOnly {
		progress("dataplane only: %d round trips per SDK transport, %d rounds of %d MiB transfers", cfg.execRuns, cfg.transferRuns, cfg.transferMiB)
		if err := runDataplaneBench(ctx, cfg, env); err != nil {
			return fmt.Errorf("dataplane: %w", err)
		}
		return nil
	}

	var pulls []*pullResults
	for _, name := range cfg.images {
		progress("create-to-ready, image %s: %d runs per side", name, cfg.runs)
		r, err := pullBench(ctx, cfg, env, imageKinds[name])
		if err != nil {
			return fmt.Errorf("create-to-ready %s: %w", name, err)
		}
		pulls = append(pulls, r)
	}

	progress("starting snapgate (validation off)")
	env.off, err = startSnapgate(ctx, cfg.snapgateBin, filepath.Join(env.work, "sg-off"), "validation off", offNS, cfg.containerd, env.reg.Addr(), true)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, env.off.Stop)
	img, err := pushUnique(ctx, env.reg, imageKinds["busybox"], "latency-"+randomHex(4))
	if err != nil {
		return err
	}
	ids := map[*snapgateProc]string{}
	for _, sg := range []*snapgateProc{env.on, env.off} {
		if ids[sg], err = readySnapshot(ctx, env, sg, img.ref); err != nil {
			return fmt.Errorf("snapshot for the GET benchmark (%s): %w", sg.label, err)
		}
	}
	progress("GET latency: %d clients, %s measured per mode", cfg.clients, cfg.duration)
	on, off, err := latencyBench(ctx, cfg, env, ids)
	if err != nil {
		return err
	}

	report(os.Stdout, cfg, env, pulls, on, off)
	if on.errors+off.errors > 0 {
		return fmt.Errorf("GET answered errors: validation on %d (first: %v), off %d (first: %v)", on.errors, on.firstEr, off.errors, off.firstEr)
	}
	if cfg.sandboxes {
		progress("sandboxes: %d starts per side, captures of 1 MiB, 100 MiB%s", cfg.sandboxStarts, map[bool]string{true: ", 1 GiB", false: ""}[cfg.bigCapture])
		if err := runSandboxBench(ctx, cfg.containerd, cfg.ctrBin, env.reg, cfg.sandboxStarts, cfg.bigCapture); err != nil {
			return fmt.Errorf("sandboxes: %w", err)
		}
	}
	if cfg.dataplane {
		progress("dataplane: %d round trips per SDK transport, %d rounds of %d MiB transfers", cfg.execRuns, cfg.transferRuns, cfg.transferMiB)
		if err := runDataplaneBench(ctx, cfg, env); err != nil {
			return fmt.Errorf("dataplane: %w", err)
		}
	}
	return nil
}

func report(w *os.File, cfg config, env *benchEnv, pulls []*pullResults, on, off *loadResult) {
	host, _ := os.Hostname()
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("")
	p("snapbench %s  host %s: %d CPUs, %s/%s, containerd %s, snapshotter %s; load average %s at start, %s at end",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, env.version, snapshotter,
		env.loadAvg, loadAvg())
	if rev := buildRevision(cfg.snapgateBin); rev != "" {
		p("snapgate binary %s, %s", cfg.snapgateBin, rev)
	}
	p("")
	p("create-to-ready: POST /snapshots -> first GET (every %s) showing ready, against `ctr images pull --plain-http`", cfg.poll)
	p("(fetch + unpack into %s) of an equally fresh image from the same local registry; median of %d runs, [min-max] in s;", snapshotter, cfg.runs)
	p("sides alternate within each run, every pull starts after sync(2) + %s", cfg.settle)
	for _, r := range pulls {
		sg, ct := median(r.sgTotals()), median(r.ctr)
		rt := ratio(sg, ct)
		label := fmt.Sprintf("%s (%s compressed, %s unpacked)", r.kind.name, mib(r.compressed), mib(r.fsUsed))
		p("  create-to-ready %-44s snapgate p50 %s %s  ctr pull p50 %s %s  ratio %.2f  (target <= 1.2: %s)",
			label, secs(sg), spread(r.sgTotals()), secs(ct), spread(r.ctr), rt, verdict(rt <= 1.2))
		if len(r.client) > 0 {
			p("    floor: containerd Go client Pull+unpack in-process p50 %s %s; snapgate/floor %.2f, ctr/floor %.2f",
				secs(median(r.client)), spread(r.client), ratio(sg, median(r.client)), ratio(ct, median(r.client)))
		}
		var acc, bld, ntc, cpu []time.Duration
		polls := 0
		for _, s := range r.snapgate {
			if s.breakdok {
				acc, bld, ntc = append(acc, s.accept), append(bld, s.build), append(ntc, s.notice)
			}
			polls += s.polls
			cpu = append(cpu, s.cpu)
		}
		if len(acc) > 0 {
			p("    snapgate breakdown (p50, from its log): POST->queued %s, queued->build finished %s, finished->ready seen %s; %.0f GETs and %s of snapgate CPU per run",
				millis(median(acc)), secs(median(bld)), millis(median(ntc)), float64(polls)/float64(len(r.snapgate)), secs(median(cpu)))
		}
		if n := min(len(r.snapgate), len(r.ctr)); n > 0 {
			// Each run's two sides ran back to back, so their ratio is less
			// exposed to load that comes and goes than the ratio of medians.
			paired := make([]time.Duration, n)
			for i := range n {
				paired[i] = time.Duration(1e6 * ratio(r.snapgate[i].total, r.ctr[i]))
			}
			p("    same-run ratios snapgate/ctr: median %.2f [%.2f-%.2f]",
				float64(median(paired))/1e6, float64(slices.Min(paired))/1e6, float64(slices.Max(paired))/1e6)
		}
	}
	p("")
	p("GET /api/v2/sandboxes/snapshots/{id}: %d concurrent clients (one keep-alive client, same host), %s measured per mode", cfg.clients, cfg.duration)
	p("in phases on, off, off, on, each after a %s warm-up; client-observed latency, and handler time from the access log", cfg.warmup)
	for _, r := range []*loadResult{on, off} {
		p("  validation %-3s  p50 %s  p99 %s  mean %s  %6.0f req/s  (%d requests, %d errors; server handler p50 %s p99 %s)",
			r.label, millis(quantile(r.lat, 0.5)), millis(quantile(r.lat, 0.99)), millis(mean(r.lat)), r.throughput(),
			len(r.lat), r.errors, millis(quantile(r.server, 0.5)), millis(quantile(r.server, 0.99)))
		if r.elapsed > 0 && len(r.lat) > 0 {
			p("                  CPU: server %.2f cores (%.0f us/request), load generator %.2f cores",
				r.serverCPU.Seconds()/r.elapsed.Seconds(), float64(r.serverCPU.Microseconds())/float64(len(r.lat)),
				r.clientCPU.Seconds()/r.elapsed.Seconds())
		}
	}
	ov50 := ratio(quantile(on.lat, 0.5), quantile(off.lat, 0.5)) - 1
	ov99 := ratio(quantile(on.lat, 0.99), quantile(off.lat, 0.99)) - 1
	tput := off.throughput()/on.throughput() - 1
	p("  GET /snapshots/{id} x%d  validation on p50 %s p99 %s  off p50 %s p99 %s  overhead p50 %+.0f%% p99 %+.0f%%, throughput off/on %+.0f%%  (target <= 20%%: %s)",
		cfg.clients, millis(quantile(on.lat, 0.5)), millis(quantile(on.lat, 0.99)), millis(quantile(off.lat, 0.5)), millis(quantile(off.lat, 0.99)),
		100*ov50, 100*ov99, 100*tput, verdict(ov50 <= 0.2))
	p("")
	p("timings are measured, not asserted; this machine is shared, so expect run-to-run spread.")
}

// buildRevision is the VCS revision stamped into a Go binary, with
// "+modified" when its tree had uncommitted changes.
func buildRevision(path string) string {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return ""
	}
	rev, modified := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return ""
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified {
		rev += "+modified"
	}
	return "revision " + rev
}
