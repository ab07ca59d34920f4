package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// remoteFile is where the transfers put the file inside each sandbox.
const remoteFile = "/tmp/snapbench-transfer.bin"

// transfers runs one warm-up round and -transfer-runs measured rounds; in
// each, every side runs once (an SDK: upload, then download), in an order
// that rotates, each step after sync(2) + -settle so writeback of the
// previous step's 256 MiB is not charged to the next.
func (b *dataplaneBench) transfers(ctx context.Context, res *dataplaneResults) error {
	cpDst := filepath.Join(b.dir, "cp.bin")
	sides := len(res.vendors) + 1
	for round := range 1 + b.cfg.transferRuns {
		measured := round > 0
		progress("  dataplane transfers of %s: round %d/%d%s", mib(res.bytes), round, b.cfg.transferRuns, map[bool]string{false: " (warm-up)"}[measured])
		for i := range sides {
			side := (round + i) % sides
			if side < len(res.vendors) {
				r := res.vendors[side]
				if err := b.transferOnce(ctx, r, measured, round == b.cfg.transferRuns); err != nil {
					return fmt.Errorf("%s transfer: %w", r.v.name, err)
				}
				continue
			}
			if err := settle(ctx, b.cfg.settle); err != nil {
				return err
			}
			if round == 1 {
				res.cached = cachedShare(b.src)
			}
			d, err := timeCmd(ctx, "cp", b.src, cpDst)
			if err != nil {
				return err
			}
			if measured {
				res.cp = append(res.cp, d)
			}
		}
	}
	return nil
}

// transferOnce uploads the source into r's sandbox and downloads it back;
// verify makes dataplane.mjs compare the download with the source.
func (b *dataplaneBench) transferOnce(ctx context.Context, r *vendorResult, measured, verify bool) error {
	extra := map[string]string{
		"BENCH_RUNS": "1", "BENCH_WARMUP": "0", "BENCH_REMOTE": remoteFile, "BENCH_SRC": b.src,
		"BENCH_DST": filepath.Join(b.dir, r.v.pkg+"-download.bin"),
	}
	up, upCPU, _, err := b.transferStep(ctx, extra, "upload", r)
	if err != nil {
		return err
	}
	if !verify {
		delete(extra, "BENCH_SRC")
	}
	down, downCPU, bytes, err := b.transferStep(ctx, extra, "download", r)
	if err != nil {
		return err
	}
	if want := int64(b.cfg.transferMiB) << 20; bytes != want {
		return fmt.Errorf("downloaded %d bytes, want %d", bytes, want)
	}
	if measured {
		r.up, r.down = append(r.up, up), append(r.down, down)
		r.upCPU, r.downCPU = append(r.upCPU, upCPU), append(r.downCPU, downCPU)
	}
	return nil
}

// transferStep runs one upload or download step after sync(2) and returns
// its time, the CPU it cost (snapgate's counted over the whole node
// process, while snapgate is otherwise idle) and the size dataplane.mjs
// reported.
func (b *dataplaneBench) transferStep(ctx context.Context, extra map[string]string, step string, r *vendorResult) (d time.Duration, cpu transferCPU, bytes int64, err error) {
	if err := settle(ctx, b.cfg.settle); err != nil {
		return 0, cpu, 0, err
	}
	pid := b.env.on.cmd.Process.Pid
	cpu0 := procCPU(pid)
	out, err := b.node(ctx, extra, step, r.v.pkg, r.name)
	if err != nil {
		return 0, cpu, 0, err
	}
	cpu.snapgate = procCPU(pid) - cpu0
	if len(out.MS) != 1 || len(out.CPUMS) != 1 {
		return 0, cpu, 0, fmt.Errorf("%s: %d timings, want 1", step, len(out.MS))
	}
	cpu.sdk = millisToDurations(out.CPUMS)[0]
	return out.durations()[0], cpu, out.Bytes, nil
}

func timeCmd(ctx context.Context, name string, args ...string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, lastLines(string(out), 3))
	}
	return d, nil
}

func writeRandomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte([]byte(randomHex(16))))
	buf := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(buf)) {
		_, _ = rng.Read(buf)
		if _, err := f.Write(buf[:min(int64(len(buf)), size-n)]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// cachedShare is the share of path's pages in the page cache (mincore(2)),
// or -1 when it cannot tell.
func cachedShare(path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return -1
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return -1
	}
	defer syscall.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	if _, _, e := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		return -1
	}
	in := 0
	for _, v := range vec {
		in += int(v & 1)
	}
	return float64(in) / float64(len(vec))
}

// sameFilesystem says whether the sandbox's writable layer (its overlayfs
// upperdir, from containerd) and cp's files share a filesystem.
func (b *dataplaneBench) sameFilesystem(ctx context.Context, container string) string {
	ctx = namespaces.WithNamespace(ctx, b.env.on.ns)
	dev := func(p string) (uint64, error) {
		var st syscall.Stat_t
		err := syscall.Stat(p, &st)
		return st.Dev, err
	}
	c, err := b.env.ctrd.LoadContainer(ctx, container)
	if err != nil {
		return fmt.Sprintf("unknown (container %s: %v)", container, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return "unknown: " + err.Error()
	}
	mounts, err := b.env.ctrd.SnapshotService(info.Snapshotter).Mounts(ctx, info.SnapshotKey)
	if err != nil {
		return "unknown: " + err.Error()
	}
	for _, m := range mounts {
		for _, o := range m.Options {
			upper, ok := strings.CutPrefix(o, "upperdir=")
			if !ok {
				continue
			}
			d1, err1 := dev(upper)
			d2, err2 := dev(b.dir)
			if err := errors.Join(err1, err2); err != nil {
				return "unknown: " + err.Error()
			}
			if d1 == d2 {
				return "yes, same filesystem"
			}
			return fmt.Sprintf("NO: upperdir %s is on device %d, cp's files (%s) on %d", upper, d1, b.dir, d2)
		}
	}
	return "unknown (no upperdir in the sandbox's mounts)"
}
