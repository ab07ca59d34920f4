package engine

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/snapgate/snapgate/core"
)

const (
	// sandboxLabel marks the containers this package runs as sandboxes.
	sandboxLabel = "snapgate/sandbox"
	// baseManifestLabel names the manifest a sandbox was started from. As a
	// gc.ref label it also keeps that manifest (and through its own labels
	// the config and layers) alive while the container exists, so a capture
	// still finds them after the image record was removed.
	baseManifestLabel = "containerd.io/gc.ref.content.snapgate.base"
	sandboxRuntime    = "io.containerd.runc.v2"

	// initDir is where the host's busybox appears in a sandbox; captures
	// leave it out, it belongs to the runtime, not to the sandbox's files.
	initDir        = ".snapgate"
	initMountPoint = "/" + initDir + "/busybox"
	// initScript keeps the task alive without anything from the image and
	// without ever forking: a pid 1 that respawns a helper (`while :; do
	// sleep & wait; done`) dies the first time that fork fails, which is
	// whenever the sandbox's processes are at its pids limit, and takes the
	// sandbox with it. So the shell blocks in its read builtin on a pipe
	// only it holds both ends of (an empty here-document, whose write end
	// it reopens through /proc; both made without a fork).
	//
	// It also reaps: orphans of exec'd commands are re-parented to pid 1
	// (the shim's subreaper flag does not reach into the pid namespace).
	// The CHLD trap makes each child's exit interrupt the read, and ash
	// collects exited children before the next command; unreaped, zombies
	// would fill the pids limit. pid 1 gets no signal it has no handler
	// for, so nothing inside the sandbox can end it.
	initScript = "trap : CHLD\n" +
		"exec 3<<X\nX\n" +
		"exec 4>/proc/self/fd/3 0<&3\n" +
		"while :; do read -r x; done"

	cfsPeriod = 100000 // µs; quota = vCPUs × period
	// stopTimeout bounds waiting for a killed task to exit.
	stopTimeout = 10 * time.Second
)

// StartSandbox creates container spec.ID from the unpacked image spec.Image
// with a fresh writable snapshot of the same name, and starts its task.
// Idempotent: an existing running or paused task is success; an existing
// container without a live task gets a new task. ErrInvalidArgument,
// ErrNotFound (image), ErrUnavailable.
func (e *Engine) StartSandbox(ctx context.Context, spec core.SandboxSpec) error {
	if spec.ID == "" || spec.Image == "" {
		return core.Errorf(core.ErrInvalidArgument, "a sandbox needs an id and an image")
	}
	ctx = e.withNS(ctx)
	unlock, err := e.sandboxes.lock(ctx, spec.ID)
	if err != nil {
		return classify(err, "start sandbox "+spec.ID)
	}
	defer unlock()
	c, err := e.client.LoadContainer(ctx, spec.ID)
	if err == nil && e.pool.takeReserved(spec.ID) {
		if err := e.adopt(ctx, c, spec); err != nil {
			return err
		}
		e.used(e.warmKey(spec.Image, spec.DiskBytes))
		return nil
	}
	if err == nil {
		return e.ensureTask(ctx, c)
	}
	if !errdefs.IsNotFound(err) {
		return classify(err, "start sandbox "+spec.ID)
	}
	if err := e.checkInitBinary(); err != nil {
		return err
	}
	if c, err = e.createContainer(ctx, spec, map[string]string{sandboxLabel: "true"}); err != nil {
		return err
	}
	if err := e.startTask(ctx, c); err != nil {
		e.deleteContainer(context.WithoutCancel(ctx), c)
		return err
	}
	e.used(e.warmKey(spec.Image, spec.DiskBytes))
	return nil
}

// createContainer makes the container record, labelled with labels, and
// its writable snapshot.
func (e *Engine) createContainer(ctx context.Context, spec core.SandboxSpec, labels map[string]string) (containerd.Container, error) {
	op := "start sandbox " + spec.ID
	img, err := e.client.GetImage(ctx, spec.Image)
	if errdefs.IsNotFound(err) {
		return nil, core.WithCause(core.ErrNotFound, err, "the image of sandbox %s is not on this server", spec.ID)
	}
	if err != nil {
		return nil, classify(err, op)
	}
	m, err := platformManifest(ctx, e.client.ContentStore(), img.Target(), img.Platform())
	if err != nil {
		return nil, classify(err, op)
	}
	// A snapshot named like the container but without it is a leftover of
	// a crash between the two; it would make Prepare fail forever.
	sn := e.client.SnapshotService(e.snapshotter)
	if err := e.detachDisk(ctx, spec.ID); err != nil {
		return nil, err
	}
	if err := sn.Remove(ctx, spec.ID); err != nil && !errdefs.IsNotFound(err) {
		return nil, classify(err, op)
	}
	if e.disks != nil && spec.DiskBytes > 0 {
		labels = withLabel(labels, diskLabel, strconv.FormatInt(spec.DiskBytes, 10))
	}
	var ids idShift
	if e.claims != nil {
		if ids, err = e.claims.claim(spec.ID); err != nil {
			return nil, err
		}
		labels = withLabel(labels, idBaseLabel, strconv.FormatUint(uint64(ids.base), 10))
	}
	opts := append(e.specOpts(img, spec), ids.specOpts()...)
	if slot, ok := slotOf(ids); ok && e.net != nil {
		hostname := spec.Hostname
		if hostname == "" {
			hostname = spec.ID
		}
		mounts, err := e.net.prepare(spec.ID, hostname, slot, spec.Network)
		if err != nil {
			_ = e.net.detach(ctx, spec.ID, 0, false)
			e.claims.release(ids, spec.ID)
			return nil, core.WithCause(core.ErrUnavailable, err, "cannot prepare the network of sandbox %s", spec.ID)
		}
		opts = append(opts, oci.WithMounts(mounts))
	}
	c, err := e.client.NewContainer(ctx, spec.ID,
		containerd.WithImage(img),
		containerd.WithSnapshotter(e.snapshotter),
		ids.newSnapshot(spec.ID, img),
		containerd.WithRuntime(sandboxRuntime, nil),
		containerd.WithContainerLabels(withLabel(labels, baseManifestLabel, m.Digest.String())),
		containerd.WithNewSpec(opts...),
	)
	if err != nil {
		if !errdefs.IsAlreadyExists(err) { // else the snapshot and range are another's
			_ = sn.Remove(context.WithoutCancel(ctx), spec.ID)
			if e.net != nil {
				_ = e.net.detach(context.WithoutCancel(ctx), spec.ID, 0, false)
			}
			e.claims.release(ids, spec.ID)
		}
		return nil, classify(err, op)
	}
	if err := e.attachDisk(ctx, spec.ID, spec.DiskBytes); err != nil {
		e.deleteContainer(context.WithoutCancel(ctx), c)
		return nil, err
	}
	return c, nil
}

func withLabel(labels map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for lk, lv := range labels {
		out[lk] = lv
	}
	return out
}

// specOpts builds the runtime spec: the image's env, user and working
// directory, spec.Env on top, the host busybox as pid 1, the hostname
// (default: the id), limits, and confinement.
//
// Confinement (tested in confinement_test.go): the default spec's 14
// capabilities (no CAP_SYS_ADMIN, NET_ADMIN, SYS_PTRACE, SYS_MODULE...),
// no_new_privs (without a user namespace), its masked and read-only /proc
// and /sys paths, and its
// namespaces: pid, ipc, uts, mount and a network namespace holding only
// lo. The containerd client, unlike CRI, adds no seccomp filter: the
// default profile (Docker's) is added here, so root in a sandbox cannot
// unshare a user namespace, load keys, mount, and so on.
//
// The user namespace, and with it no_new_privs dropped, comes from
// idShift.specOpts (userns.go).
func (e *Engine) specOpts(img containerd.Image, spec core.SandboxSpec) []oci.SpecOpts {
	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithEnv(envList(spec.Env)),
		oci.WithProcessArgs(initMountPoint, "sh", "-c", initScript),
		oci.WithMounts([]specs.Mount{{
			Destination: initMountPoint,
			Type:        "bind",
			Source:      e.initBinary,
			Options:     []string{"rbind", "ro", "nosuid", "nodev"},
		}}),
		oci.WithPidsLimit(e.pidsLimit),
		// The default spec sets it too; said here so no later option
		// loses it. Exec'd processes copy this process spec.
		oci.WithNoNewPrivileges,
	}
	// Without a hostname the sandbox would show the host's.
	hostname := spec.Hostname
	if hostname == "" {
		hostname = spec.ID
	}
	opts = append(opts, oci.WithHostname(hostname))
	if spec.MemoryBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(spec.MemoryBytes)))
	}
	if spec.VCPUs > 0 {
		opts = append(opts, oci.WithCPUCFS(int64(spec.VCPUs)*cfsPeriod, cfsPeriod))
	}
	// Last: the profile allows some syscalls by the capabilities the spec
	// holds by now.
	return append(opts, seccomp.WithDefaultProfile())
}

// envList turns env into sorted KEY=VALUE entries, so the same spec makes
// the same container spec.
func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// checkInitBinary fails early and plainly when the host busybox is gone or
// dynamically linked (it would find no libc in most images); runc would
// fail the start with a bind-mount or exec error instead.
func (e *Engine) checkInitBinary() error {
	err := staticExecutable(e.initBinary)
	if err == nil {
		return nil
	}
	// Tenants read the message: the host path goes only into the cause,
	// which New logs at start for the operator.
	return core.WithCause(core.ErrUnavailable, fmt.Errorf("init binary %s: %w", e.initBinary, err),
		"this server cannot start sandboxes: its init binary is missing or unusable (the operator must install a static busybox, e.g. Debian's busybox-static, or configure another init binary)")
}

func staticExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not an ELF binary: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked", path)
		}
	}
	return nil
}

// ensureTask gives an existing container a live task: a running or paused
// one is kept; a stopped or never-started one is replaced.
func (e *Engine) ensureTask(ctx context.Context, c containerd.Container) error {
	op := "start sandbox " + c.ID()
	task, err := c.Task(ctx, nil)
	if err != nil && !errdefs.IsNotFound(err) {
		return classify(err, op)
	}
	if err == nil {
		st, err := task.Status(ctx)
		if err != nil && !errdefs.IsNotFound(err) {
			return classify(err, op)
		}
		switch st.Status {
		case containerd.Running, containerd.Paused, containerd.Pausing:
			return nil
		}
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return classify(err, op)
		}
	}
	if err := e.checkInitBinary(); err != nil {
		return err
	}
	// After a host restart the disk is no longer mounted.
	labels, err := c.Labels(ctx)
	if err != nil {
		return classify(err, op)
	}
	if err := e.attachDisk(ctx, c.ID(), diskBytes(labels)); err != nil {
		return err
	}
	return e.startTask(ctx, c)
}

// startTask creates and starts the task with no stdio: nothing reads it,
// and FIFOs nobody drains would block the process.
//
// On failure the task is deleted, or left to the caller's deleteContainer
// (a creation that failed on our side, say at a deadline, may have made
// the task all the same). A failure may also come from the container
// record having been deleted meanwhile (containerd then answers NotFound
// for the task too, see orphan.go): such a task is reaped here, as nobody
// could find it later.
func (e *Engine) startTask(ctx context.Context, c containerd.Container) (err error) {
	op := "start sandbox " + c.ID()
	defer func() {
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*stopTimeout)
			defer cancel()
			e.reapIfContainerGone(rctx, c.ID())
		}
	}()
	task, err := c.NewTask(ctx, cio.NullIO)
	if err != nil {
		return classify(err, op)
	}
	if e.afterNewTask != nil {
		e.afterNewTask(c.ID())
	}
	err = e.attachNetwork(ctx, c, task.Pid())
	if err == nil {
		err = task.Start(ctx)
	}
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
		if _, derr := task.Delete(dctx, containerd.WithProcessKill); derr != nil && !errdefs.IsNotFound(derr) {
			e.log.WarnContext(ctx, "delete task that failed to start", "sandbox", c.ID(), "err", derr)
		}
		return classify(err, op)
	}
	return nil
}

// deleteContainer removes a container and its writable snapshot, for
// clean-up after a failed start; errors are only logged. Its task goes
// first: containerd would delete the record under a task (orphan.go), and
// a container whose task cannot be removed is kept, for a later kill.
func (e *Engine) deleteContainer(ctx context.Context, c containerd.Container) {
	ctx, cancel := context.WithTimeout(ctx, 2*stopTimeout)
	defer cancel()
	if err := e.stopTask(ctx, c); err != nil {
		e.log.WarnContext(ctx, "remove task of a failed sandbox start: container kept", "sandbox", c.ID(), "err", err)
		return
	}
	if err := e.detachDisk(ctx, c.ID()); err != nil {
		e.log.WarnContext(ctx, "remove disk of a failed sandbox start", "sandbox", c.ID(), "err", err)
	}
	info, _ := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		e.log.WarnContext(ctx, "delete container of a failed sandbox start", "sandbox", c.ID(), "err", err)
		return
	}
	if err := e.detachNetwork(ctx, c.ID(), info.Labels); err != nil {
		e.log.WarnContext(ctx, "remove network of a failed sandbox start: id range kept", "sandbox", c.ID(), "err", err)
		return
	}
	e.claims.release(shiftOf(info.Labels), c.ID())
}
