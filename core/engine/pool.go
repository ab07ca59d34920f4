package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/snapgate/snapgate/core"
)

// A warm pool keeps, for the images sandboxes were most recently started
// from, a few sandboxes whose container exists and whose task already runs
// (idle: pid 1 is the init loop, nothing of the user's has run). Creating
// the container, its snapshot and the runc task is most of a start (about
// 150 ms here); adopting a warm one is a cgroup update and a record update.
//
// Warm containers carry poolLabel (the image) instead of sandboxLabel, so
// the sandbox reconciler does not see them; adopting one swaps the labels.
// Their ids are sandbox ids (core.NewSandboxID), so the hostname a sandbox
// sees is its own id. New removes warm containers a previous process left.
const poolLabel = "snapgate/warm-image"

// warmKey is what a warm sandbox is made for: its image and disk size (a
// disk cannot change size once made).
type warmKey struct {
	image string
	disk  int64
}

type warmPool struct {
	size   int // warm sandboxes kept per image; 0 disables the pool
	images int // how many recently used images are kept warm

	mu       sync.Mutex
	ready    map[warmKey][]string // ids of idle warm sandboxes
	recent   []warmKey            // most recently started first
	filling  map[warmKey]bool     // a filler runs
	reserved map[string]bool      // ids handed out, not yet adopted or killed
	wg       sync.WaitGroup
	ctx      context.Context // ends at Engine.Close
	stop     context.CancelFunc
}

func newWarmPool(size, images int) *warmPool {
	ctx, stop := context.WithCancel(context.Background())
	return &warmPool{
		size: size, images: images, ctx: ctx, stop: stop,
		ready: map[warmKey][]string{}, filling: map[warmKey]bool{}, reserved: map[string]bool{},
	}
}

// ReserveWarm hands out the id of a warm sandbox for image with a disk of
// diskBytes, or "" when there is none. The caller then adopts it with
// StartSandbox (same id) or releases it with KillSandbox.
func (e *Engine) ReserveWarm(ctx context.Context, image string, diskBytes int64) string {
	p := e.pool
	if p == nil || p.size == 0 {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := e.warmKey(image, diskBytes)
	ids := p.ready[key]
	if len(ids) == 0 {
		return ""
	}
	id := ids[len(ids)-1]
	p.ready[key] = ids[:len(ids)-1]
	p.reserved[id] = true
	return id
}

// WarmCount reports how many idle warm sandboxes image has, whatever
// their disk size (benchmarks).
func (e *Engine) WarmCount(image string) int {
	if e.pool == nil {
		return 0
	}
	e.pool.mu.Lock()
	defer e.pool.mu.Unlock()
	n := 0
	for k, ids := range e.pool.ready {
		if k.image == image {
			n += len(ids)
		}
	}
	return n
}

// warmKey is the pool's key for a sandbox of image with a disk of
// diskBytes; without disks the size makes no difference.
func (e *Engine) warmKey(image string, diskBytes int64) warmKey {
	if e.disks == nil {
		diskBytes = 0
	}
	return warmKey{image: image, disk: diskBytes}
}

// isReserved reports (and forgets) whether id was handed out by ReserveWarm.
func (p *warmPool) takeReserved(id string) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ok := p.reserved[id]
	delete(p.reserved, id)
	return ok
}

// used records that key just had a sandbox started and tops up its warm
// sandboxes in the background; keys that fell off the recent list lose
// theirs.
func (e *Engine) used(key warmKey) {
	p := e.pool
	if p == nil || p.size == 0 {
		return
	}
	p.mu.Lock()
	recent := []warmKey{key}
	for _, k := range p.recent {
		if k != key {
			recent = append(recent, k)
		}
	}
	var evicted []string
	if len(recent) > p.images {
		for _, k := range recent[p.images:] {
			evicted = append(evicted, p.ready[k]...)
			delete(p.ready, k)
		}
		recent = recent[:p.images]
	}
	p.recent = recent
	start := !p.filling[key] && p.ctx.Err() == nil
	if start {
		p.filling[key] = true
		p.wg.Add(1)
	}
	p.mu.Unlock()
	for _, id := range evicted {
		e.discardWarm(id)
	}
	if start {
		go e.fill(key)
	}
}

// fill creates warm sandboxes for key until it has pool.size of them.
func (e *Engine) fill(key warmKey) {
	p := e.pool
	defer p.wg.Done()
	for {
		p.mu.Lock()
		want := p.size - len(p.ready[key])
		if want <= 0 || p.ctx.Err() != nil || !slices.Contains(p.recent, key) {
			p.filling[key] = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		id, err := e.createWarm(p.ctx, key)
		if err != nil {
			e.log.WarnContext(p.ctx, "warm sandbox not created", "image", key.image, "err", err)
			p.mu.Lock()
			p.filling[key] = false
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		keep := p.ctx.Err() == nil && slices.Contains(p.recent, key)
		if keep {
			p.ready[key] = append(p.ready[key], id)
		}
		p.mu.Unlock()
		if !keep {
			e.discardWarm(id)
		}
	}
}

// createWarm makes one warm sandbox: container, snapshot, started task,
// with no limits beyond the pids cap; adopt sets the requested ones.
func (e *Engine) createWarm(ctx context.Context, key warmKey) (string, error) {
	id, err := core.NewSandboxID()
	if err != nil {
		return "", err
	}
	// Not cut short by Close (which waits for fillers): a creation
	// interrupted halfway can leave a container record without its task.
	ctx, cancel := context.WithTimeout(e.withNS(context.WithoutCancel(ctx)), warmTimeout)
	defer cancel()
	// Held like a start's: a kill of the container (listed as soon as its
	// record exists) waits until the task is made, else it could delete
	// the record while the task is being created, leaving a task without
	// a container (a `runc init` that waits forever).
	unlock, err := e.sandboxes.lock(ctx, id)
	if err != nil {
		return "", classify(err, "warm sandbox "+id)
	}
	defer unlock()
	// No egress until adopted: adopt sets the requested policy.
	spec := core.SandboxSpec{ID: id, Image: key.image, DiskBytes: key.disk,
		Network: core.NetworkPolicy{DenyOut: core.AllTraffic}}
	c, err := e.createContainer(ctx, spec, map[string]string{poolLabel: key.image})
	if err != nil {
		return "", err
	}
	if e.afterWarmContainer != nil {
		e.afterWarmContainer(id)
	}
	if err := e.startTask(ctx, c); err != nil {
		e.deleteContainer(context.WithoutCancel(ctx), c)
		return "", err
	}
	return id, nil
}

// adopt turns the warm container c into sandbox spec: limits on the live
// cgroup, env and limits in its spec (later execs start from it), and the
// sandbox label in place of the pool's.
func (e *Engine) adopt(ctx context.Context, c containerd.Container, spec core.SandboxSpec) error {
	op := "start sandbox " + spec.ID
	task, err := c.Task(ctx, nil)
	if err != nil {
		return classify(err, op)
	}
	res := resources(spec)
	if err := task.Update(ctx, containerd.WithResources(res)); err != nil {
		return classify(err, op)
	}
	err = c.Update(ctx, func(ctx context.Context, _ *containerd.Client, info *containers.Container) error {
		var s specs.Spec
		if err := typeurl.UnmarshalTo(info.Spec, &s); err != nil {
			return fmt.Errorf("read spec: %w", err)
		}
		if s.Process != nil {
			s.Process.Env = mergeEnv(s.Process.Env, envList(spec.Env))
		}
		if s.Linux != nil && s.Linux.Resources != nil {
			s.Linux.Resources.Memory, s.Linux.Resources.CPU = res.Memory, res.CPU
		}
		a, err := typeurl.MarshalAnyToProto(&s)
		if err != nil {
			return fmt.Errorf("write spec: %w", err)
		}
		info.Spec = a
		delete(info.Labels, poolLabel)
		info.Labels[sandboxLabel] = "true"
		return nil
	})
	if err != nil {
		return classify(err, op)
	}
	if e.net != nil {
		return e.setNetwork(ctx, c, spec.Network)
	}
	return nil
}

// resources are the cgroup limits of spec, as specOpts sets them.
func resources(spec core.SandboxSpec) *specs.LinuxResources {
	res := &specs.LinuxResources{}
	if spec.MemoryBytes > 0 {
		limit := spec.MemoryBytes
		res.Memory = &specs.LinuxMemory{Limit: &limit}
	}
	if spec.VCPUs > 0 {
		quota, period := int64(spec.VCPUs)*cfsPeriod, uint64(cfsPeriod)
		res.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	return res
}

// discardWarm kills an idle warm sandbox (pool shrink, image removal).
func (e *Engine) discardWarm(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*stopTimeout)
	defer cancel()
	if err := e.KillSandbox(ctx, id); err != nil {
		e.log.Warn("remove warm sandbox", "id", id, "err", err)
	}
}

// dropWarm removes the warm sandboxes of image (before the image goes).
func (e *Engine) dropWarm(image string) {
	p := e.pool
	if p == nil {
		return
	}
	p.mu.Lock()
	var ids []string
	var recent []warmKey
	for _, k := range p.recent {
		if k.image != image {
			recent = append(recent, k)
		}
	}
	for k, l := range p.ready {
		if k.image == image {
			ids = append(ids, l...)
			delete(p.ready, k)
		}
	}
	p.recent = recent
	p.mu.Unlock()
	for _, id := range ids {
		e.discardWarm(id)
	}
}

// closePool stops filling and removes every idle warm sandbox.
func (e *Engine) closePool() {
	p := e.pool
	if p == nil {
		return
	}
	p.stop()
	p.wg.Wait()
	p.mu.Lock()
	var ids []string
	for k, l := range p.ready {
		ids = append(ids, l...)
		delete(p.ready, k)
	}
	p.mu.Unlock()
	for _, id := range ids {
		e.discardWarm(id)
	}
}

// removeStaleWarm deletes warm containers a previous process left: they
// may hold images that were removed since, and nobody tracks them.
func (e *Engine) removeStaleWarm(ctx context.Context) error {
	cs, err := e.client.Containers(e.withNS(ctx), fmt.Sprintf("labels.%q", poolLabel))
	if err != nil {
		return classify(err, "list warm sandboxes")
	}
	for _, c := range cs {
		if err := e.KillSandbox(ctx, c.ID()); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// warmTimeout bounds creating one warm sandbox.
const warmTimeout = time.Minute
