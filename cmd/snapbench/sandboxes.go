package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine"
	"github.com/snapgate/snapgate/tests/testregistry"
)

// sandboxBench measures the sandbox half (issue "sandboxes on containerd"):
//   - start latency of a sandbox from a pulled snapshot image through the
//     engine (container + task + start), against `ctr run -d` of the same
//     image on the same containerd;
//   - capture of a sandbox that wrote 1 MiB, 100 MiB (and 1 GiB with
//     -big-capture) on a small and a 20,000-file image: how long the
//     sandbox stays frozen, and the total time to a recorded image.
type sandboxBench struct {
	addr, ctrBin string
	reg          *testregistry.Registry
	eng          *engine.Engine
	ns           string
	mu           sync.Mutex
	paused       time.Duration
	total        time.Duration
}

func runSandboxBench(ctx context.Context, addr, ctrBin string, reg *testregistry.Registry, starts int, big bool) error {
	b := &sandboxBench{addr: addr, ctrBin: ctrBin, reg: reg, ns: "snapbench-sbx-" + randomHex(4)}
	var err error
	b.eng, err = engine.New(ctx, engine.Options{
		Address: addr, Namespace: b.ns, InsecureRegistries: []string{reg.Addr()},
		Logger:    slog.New(slog.DiscardHandler),
		OnCapture: func(paused, total time.Duration) { b.mu.Lock(); b.paused, b.total = paused, total; b.mu.Unlock() },
	})
	if err != nil {
		return err
	}
	defer b.cleanup()
	small, err := b.pushAndPull(ctx, "sbx-small")
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Println("== sandboxes (engine in-process, same containerd, same image)")
	if err := b.startLatency(ctx, small, starts); err != nil {
		return err
	}
	many, err := b.pushAndPull(ctx, "sbx-many", testregistry.WithExtraFiles(20000))
	if err != nil {
		return err
	}
	sizes := []int{1, 100}
	if big {
		sizes = append(sizes, 1024)
	}
	for _, img := range []struct{ label, ref string }{{"small image", small}, {"20,000-file image", many}} {
		for _, mib := range sizes {
			if err := b.capture(ctx, img.label, img.ref, mib); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *sandboxBench) pushAndPull(ctx context.Context, repo string, opts ...testregistry.ImageOption) (string, error) {
	opts = append(opts, testregistry.WithFile("/etc/bench-id", []byte(randomHex(8))))
	img, err := testregistry.BusyboxImage(opts...)
	if err != nil {
		return "", err
	}
	if _, err := b.reg.Push(ctx, repo, "latest", img); err != nil {
		return "", err
	}
	ref := b.reg.Ref(repo, "latest")
	// Recorded under its own reference so `ctr run` finds it by that name.
	if _, err := b.eng.Pull(ctx, core.PullRequest{Name: ref, Source: ref}); err != nil {
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	return ref, nil
}

func (b *sandboxBench) startLatency(ctx context.Context, ref string, n int) error {
	// A second engine on the same namespace keeps one warm sandbox per
	// image, as snapgate does by default (SNAPGATE_WARM_POOL=1).
	// With sandbox disks, as snapgate runs by default.
	disks, err := os.MkdirTemp("", "snapbench-disks-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(disks)
	warm, err := engine.New(ctx, engine.Options{Address: b.addr, Namespace: b.ns, WarmPool: 1, DiskDir: disks, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer warm.Close()
	// And one running sandboxes in the host's user namespace, as before
	// user namespaces (SNAPGATE_SANDBOX_USERNS=off): the namespace's cost.
	hostNS, err := engine.New(ctx, engine.Options{Address: b.addr, Namespace: b.ns, HostUserNamespace: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer hostNS.Close()
	const disk = 1 << 30
	var cold, bare, noUserNS, adopted, ctr []time.Duration
	for i := range n {
		id := fmt.Sprintf("sbx%d%s", i, randomHex(3))
		d, err := b.timeStart(ctx, warm, core.SandboxSpec{ID: id, Image: ref, VCPUs: 1, MemoryBytes: 256 << 20, DiskBytes: disk})
		if err != nil {
			return err
		}
		cold = append(cold, d)
		// The same start without a disk of its own: the bound's cost.
		if d, err = b.timeStart(ctx, b.eng, core.SandboxSpec{ID: "bare" + id, Image: ref, VCPUs: 1, MemoryBytes: 256 << 20}); err != nil {
			return err
		}
		bare = append(bare, d)
		if d, err = b.timeStart(ctx, hostNS, core.SandboxSpec{ID: "hostns" + id, Image: ref, VCPUs: 1, MemoryBytes: 256 << 20}); err != nil {
			return err
		}
		noUserNS = append(noUserNS, d)
		if d, err = b.ctrRun(ctx, ref, "ctr"+id); err != nil {
			return err
		}
		ctr = append(ctr, d)
		// Requests arriving no faster than the pool refills find a warm
		// sandbox: wait for it, untimed.
		if err := waitWarm(ctx, warm, ref); err != nil {
			return err
		}
		start := time.Now()
		wid := warm.ReserveWarm(ctx, ref, disk)
		if wid == "" {
			return fmt.Errorf("no warm sandbox after the wait")
		}
		spec := core.SandboxSpec{ID: wid, Image: ref, VCPUs: 1, MemoryBytes: 256 << 20, Env: map[string]string{"A": "1"}, DiskBytes: disk}
		if err := warm.StartSandbox(ctx, spec); err != nil {
			return fmt.Errorf("adopt warm sandbox: %w", err)
		}
		adopted = append(adopted, time.Since(start))
		if err := warm.KillSandbox(ctx, wid); err != nil {
			return err
		}
	}
	fmt.Printf("sandbox start (create-to-running), %d runs each\n", n)
	fmt.Printf("  warm pool (adopt a started task)   p50 %s  p99 %s   (target p50 < 100ms, p99 < 250ms)\n", millis(quantile(adopted, 0.5)), millis(quantile(adopted, 0.99)))
	fmt.Printf("  cold (container + snapshot + task) p50 %s  p99 %s   (1 GiB disk of its own)\n", millis(quantile(cold, 0.5)), millis(quantile(cold, 0.99)))
	fmt.Printf("  cold without a disk bound          p50 %s  p99 %s   (disk bound costs %s at p50)\n", millis(quantile(bare, 0.5)), millis(quantile(bare, 0.99)),
		millis(quantile(cold, 0.5)-quantile(bare, 0.5)))
	fmt.Printf("  cold, no disk, host user namespace p50 %s  p99 %s   (the user namespace costs %s at p50)\n", millis(quantile(noUserNS, 0.5)), millis(quantile(noUserNS, 0.99)),
		millis(quantile(bare, 0.5)-quantile(noUserNS, 0.5)))
	fmt.Printf("  ctr run -d                         p50 %s  p99 %s\n", millis(quantile(ctr, 0.5)), millis(quantile(ctr, 0.99)))
	fmt.Printf("  ratio to ctr p50: warm %.2f, cold %.2f\n", ratio(quantile(adopted, 0.5), quantile(ctr, 0.5)), ratio(quantile(cold, 0.5), quantile(ctr, 0.5)))
	return nil
}

// timeStart times a cold start (no warm sandbox used) and kills it.
func (b *sandboxBench) timeStart(ctx context.Context, eng *engine.Engine, spec core.SandboxSpec) (time.Duration, error) {
	start := time.Now()
	if err := eng.StartSandbox(ctx, spec); err != nil {
		return 0, fmt.Errorf("start sandbox: %w", err)
	}
	d := time.Since(start)
	return d, eng.KillSandbox(ctx, spec.ID)
}

func waitWarm(ctx context.Context, eng *engine.Engine, image string) error {
	deadline := time.Now().Add(30 * time.Second)
	for eng.WarmCount(image) == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("the warm pool did not refill within 30s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// ctrRun is the same work by hand: `ctr run -d` (container, task, start;
// CLI start-up included) then the teardown, untimed.
func (b *sandboxBench) ctrRun(ctx context.Context, ref, id string) (time.Duration, error) {
	ctr := func(args ...string) error {
		cmd := exec.CommandContext(ctx, b.ctrBin, append([]string{"--address", b.addr, "-n", b.ns}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, out.String())
		}
		return nil
	}
	start := time.Now()
	if err := ctr("run", "-d", "--snapshotter", snapshotter, ref, id, "/bin/sleep", "3600"); err != nil {
		return 0, err
	}
	d := time.Since(start)
	_ = ctr("task", "kill", "-s", "KILL", id)
	time.Sleep(50 * time.Millisecond)
	_ = ctr("task", "rm", "-f", id)
	return d, ctr("containers", "rm", id)
}

func (b *sandboxBench) capture(ctx context.Context, label, ref string, mib int) error {
	runs := 3
	if mib >= 1024 {
		runs = 1
	}
	var paused, total []time.Duration
	for range runs {
		id := "cap" + randomHex(4)
		if err := b.eng.StartSandbox(ctx, core.SandboxSpec{ID: id, Image: ref, VCPUs: 1, MemoryBytes: 2 << 30}); err != nil {
			return err
		}
		code, err := b.eng.Exec(ctx, id, []string{"/bin/sh", "-c", fmt.Sprintf("dd if=/dev/urandom of=/data.bin bs=1M count=%d 2>/dev/null", mib)}, nil, nil, io.Discard, io.Discard)
		if err != nil || code != 0 {
			return fmt.Errorf("write %d MiB in sandbox: code %d: %v", mib, code, err)
		}
		name := "snapbench/capture/" + id
		if _, err := b.eng.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: id, Name: name}); err != nil {
			return fmt.Errorf("capture: %w", err)
		}
		b.mu.Lock()
		paused, total = append(paused, b.paused), append(total, b.total)
		b.mu.Unlock()
		_ = b.eng.KillSandbox(ctx, id)
		_ = b.eng.RemoveImage(ctx, name)
	}
	fmt.Printf("capture %5d MiB written, %-18s frozen p50 %9s  total p50 %9s  (%d runs; targets: frozen < 80ms, 1 MiB total < 150ms)\n",
		mib, label, millis(median(paused)), millis(median(total)), runs)
	return nil
}

func (b *sandboxBench) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if ids, err := b.eng.ListSandboxContainers(ctx); err == nil {
		for _, id := range ids {
			_ = b.eng.KillSandbox(ctx, id)
		}
	}
	if names, err := b.eng.ListImages(ctx); err == nil {
		for _, n := range names {
			_ = b.eng.RemoveImage(ctx, n)
		}
	}
	b.eng.Close()
	_ = exec.CommandContext(ctx, b.ctrBin, "--address", b.addr, "namespaces", "rm", b.ns).Run()
}
