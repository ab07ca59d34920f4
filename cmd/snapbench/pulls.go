package main

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"time"

	"github.com/snapgate/snapgate/tests/testregistry"
)

// imageKind is one benchmark image: the small busybox one or the one with
// many files.
type imageKind struct {
	name  string
	opts  []testregistry.ImageOption
	files int // regular files + links + dirs, roughly, for the label
}

var imageKinds = map[string]imageKind{
	"busybox":    {name: "busybox"},
	"many-files": {name: "many-files", opts: []testregistry.ImageOption{testregistry.WithExtraFiles(20000)}, files: 20000},
}

// pushed is one unique image in the registry.
type pushed struct {
	ref             string
	compressedBytes int64
}

// pushUnique builds a variant of kind no earlier run (and no other side of
// this run) has: containerd shares content across namespaces, so a repeated
// image would be found locally and never fetched.
func pushUnique(ctx context.Context, reg *testregistry.Registry, kind imageKind, tag string) (pushed, error) {
	opts := append([]testregistry.ImageOption{testregistry.WithFile("/etc/bench-id", []byte(tag+"-"+randomHex(16)))}, kind.opts...)
	img, err := testregistry.BusyboxImage(opts...)
	if err != nil {
		return pushed{}, err
	}
	repo := "bench-" + kind.name
	if _, err := reg.Push(ctx, repo, tag, img); err != nil {
		return pushed{}, err
	}
	var size int64
	layers, err := img.Layers()
	if err != nil {
		return pushed{}, err
	}
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return pushed{}, err
		}
		size += s
	}
	return pushed{ref: reg.Ref(repo, tag), compressedBytes: size}, nil
}

// sgRun is one snapgate create-to-ready measurement with its breakdown
// (from the server's log timestamps; zero when a line was not found).
type sgRun struct {
	total    time.Duration
	accept   time.Duration // POST sent -> "snapshot build queued" logged
	build    time.Duration // queued -> "snapshot build finished" logged
	notice   time.Duration // finished -> first GET that shows ready returned
	polls    int
	cpu      time.Duration // CPU the snapgate process used during the run
	fsUsed   int64
	breakdok bool
}

// pullResults holds every side's timings for one image kind.
type pullResults struct {
	kind       imageKind
	compressed int64
	fsUsed     int64
	snapgate   []sgRun
	ctr        []time.Duration
	client     []time.Duration
}

func (r *pullResults) sgTotals() []time.Duration {
	out := make([]time.Duration, len(r.snapgate))
	for i, s := range r.snapgate {
		out[i] = s.total
	}
	return out
}

// pullBench runs cfg.runs rounds for kind. Each round pushes fresh images
// (untimed), then measures snapgate, ctr and (optionally) the Go client in a
// rotating order, removing each side's image right after its measurement.
func pullBench(ctx context.Context, cfg config, env *benchEnv, kind imageKind) (*pullResults, error) {
	res := &pullResults{kind: kind}
	sides := []string{"snapgate", "ctr"}
	if cfg.clientFloor {
		sides = append(sides, "client")
	}
	for run := range cfg.runs {
		imgs := map[string]pushed{}
		for _, side := range sides {
			p, err := pushUnique(ctx, env.reg, kind, fmt.Sprintf("%s-%d-%s", side, run, randomHex(4)))
			if err != nil {
				return nil, fmt.Errorf("push %s image: %w", kind.name, err)
			}
			imgs[side] = p
			res.compressed = p.compressedBytes
		}
		// Building a 20k-file layer allocates a lot; collect it now, not
		// during a measurement.
		runtime.GC()
		for i := range sides {
			side := sides[(run+i)%len(sides)]
			ref := imgs[side].ref
			if err := settle(ctx, cfg.settle); err != nil {
				return nil, err
			}
			switch side {
			case "snapgate":
				r, err := snapgateCreateToReady(ctx, cfg, env, kind, run, ref)
				if err != nil {
					return nil, err
				}
				res.snapgate = append(res.snapgate, r)
				res.fsUsed = r.fsUsed
				progress("  %-10s run %d/%d  snapgate %s", kind.name, run+1, cfg.runs, secs(r.total))
			case "ctr":
				d, err := ctrPull(ctx, cfg.ctrBin, cfg.containerd, env.ctrNS, ref)
				if err != nil {
					return nil, err
				}
				if err := ctrRemove(ctx, cfg.ctrBin, cfg.containerd, env.ctrNS, ref); err != nil {
					return nil, err
				}
				res.ctr = append(res.ctr, d)
				progress("  %-10s run %d/%d  ctr pull %s", kind.name, run+1, cfg.runs, secs(d))
			case "client":
				d, err := clientPull(ctx, env.ctrd, env.clientNS, env.reg.Addr(), ref)
				if err != nil {
					return nil, err
				}
				if err := clientRemove(ctx, env.ctrd, env.clientNS, ref); err != nil {
					return nil, err
				}
				res.client = append(res.client, d)
				progress("  %-10s run %d/%d  Go client pull %s", kind.name, run+1, cfg.runs, secs(d))
			}
		}
	}
	return res, nil
}

// snapgateCreateToReady POSTs a snapshot of ref, polls GET every cfg.poll
// until it is ready, and deletes it. Time runs from just before the POST to
// the return of the first GET that shows ready, as an SDK would see it.
func snapgateCreateToReady(ctx context.Context, cfg config, env *benchEnv, kind imageKind, run int, ref string) (sgRun, error) {
	sg := env.on
	a := api{p: sg, c: env.httpc}
	logFrom := sg.logSize()
	cpu0 := procCPU(sg.cmd.Process.Pid)
	name := fmt.Sprintf("bench-%s-%d-%s", kind.name, run, randomHex(4))
	start := time.Now()
	out, err := a.do(ctx, "POST", "/api/v2/sandboxes/snapshots", map[string]any{
		"name": name, "docker_image": ref, "fs_capacity_bytes": int64(4) << 30,
	}, 201)
	if err != nil {
		return sgRun{}, fmt.Errorf("create snapshot: %w", err)
	}
	id, _ := out["id"].(string)
	if id == "" {
		return sgRun{}, fmt.Errorf("create snapshot: no id in %v", out)
	}
	r := sgRun{}
	deadline := start.Add(cfg.buildTimeout)
	for {
		r.polls++
		got, err := a.do(ctx, "GET", "/api/v2/sandboxes/snapshots/"+id, nil, 200)
		if err != nil {
			return sgRun{}, fmt.Errorf("poll snapshot: %w", err)
		}
		status, _ := got["status"].(string)
		if status == "ready" {
			r.total = time.Since(start)
			if f, ok := got["fs_used_bytes"].(float64); ok {
				r.fsUsed = int64(f)
			}
			break
		}
		if status != "building" {
			return sgRun{}, fmt.Errorf("snapshot of %s ended %q: %v\n%s", ref, status, got["status_message"], sg.logTail(10))
		}
		if time.Now().After(deadline) {
			return sgRun{}, fmt.Errorf("snapshot of %s still building after %s", ref, cfg.buildTimeout)
		}
		if err := sg.Alive(); err != nil {
			return sgRun{}, err
		}
		select {
		case <-ctx.Done():
			return sgRun{}, ctx.Err()
		case <-time.After(cfg.poll):
		}
	}
	end := start.Add(r.total)
	r.cpu = procCPU(sg.cmd.Process.Pid) - cpu0
	if ev, err := buildEvents(sg.logPath, logFrom, id); err == nil && !ev.queued.IsZero() && !ev.finished.IsZero() {
		r.accept, r.build, r.notice, r.breakdok = ev.queued.Sub(start), ev.finished.Sub(ev.queued), end.Sub(ev.finished), true
	}
	if _, err := a.do(ctx, "DELETE", "/api/v2/sandboxes/snapshots/"+id, nil, 204); err != nil {
		return sgRun{}, fmt.Errorf("delete snapshot: %w", err)
	}
	return r, nil
}

// readySnapshot creates a snapshot on sg and waits until it is ready; the
// latency benchmark reads it.
func readySnapshot(ctx context.Context, env *benchEnv, sg *snapgateProc, ref string) (string, error) {
	a := api{p: sg, c: env.httpc}
	out, err := a.do(ctx, "POST", "/api/v2/sandboxes/snapshots", map[string]any{
		"name": "bench-latency-" + randomHex(4), "docker_image": ref, "fs_capacity_bytes": int64(1) << 30,
	}, 201)
	if err != nil {
		return "", err
	}
	id, _ := out["id"].(string)
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		got, err := a.do(ctx, "GET", "/api/v2/sandboxes/snapshots/"+id, nil, 200)
		if err != nil {
			return "", err
		}
		switch got["status"] {
		case "ready":
			return id, nil
		case "building":
		default:
			return "", fmt.Errorf("snapshot %s ended %v: %v", id, got["status"], got["status_message"])
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("snapshot %s not ready after 5m", id)
}

// settle flushes dirty pages (the previous run's unpacked or deleted files)
// and waits, so their writeback does not land inside the next measurement.
func settle(ctx context.Context, d time.Duration) error {
	syscall.Sync()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
