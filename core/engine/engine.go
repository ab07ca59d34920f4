// Package engine implements core.Engine and core.SandboxEngine over
// containerd, driven by the containerd v2 Go client (measured against
// containerd 1.6 and 2.x daemons) with runc and the overlayfs snapshotter.
//
// Sandboxes are containers labelled snapgate/sandbox=true whose process is
// the host's static busybox, bind-mounted at /.snapgate/busybox, so any
// image (even one without a shell) makes a sandbox (sandbox.go,
// lifecycle.go, exec.go). Captures turn a sandbox's writable layer into a
// new image while the sandbox keeps running (capture*.go, layer.go).
//
// Every call runs in the engine's own containerd namespace (Options.Namespace,
// set on each call with namespaces.WithNamespace, so one containerd can host
// several snapgate installs and tests). Images are recorded under the names
// core chooses (core.ImageRefFor); pulls fetch and unpack inside an expiring
// lease labelled snapgate/owner=engine so content is not collected midway,
// and New deletes such leases left behind by a crashed process, and tasks
// left without their container (orphan.go). Snapshot images go to a
// cluster's snapshot registry as they are stored (push.go).
//
// Only this package imports containerd. It translates containerd, registry
// and network errors to core error kinds in one place (errors.go), with
// messages a client can act on.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	clog "github.com/containerd/log"
	"github.com/distribution/reference"

	"github.com/snapgate/snapgate/core"
)

const (
	// DefaultAddress is the system containerd socket.
	DefaultAddress = "/run/containerd/containerd.sock"
	// DefaultNamespace is the containerd namespace snapgate works in.
	DefaultNamespace = "snapgate"
	// DefaultSnapshotter unpacks images; the capture fast path needs overlayfs.
	DefaultSnapshotter = "overlayfs"
	// DefaultInitBinary is the static busybox sandboxes run as their init.
	DefaultInitBinary = "/bin/busybox"
	// DefaultPidsLimit caps the processes of one sandbox.
	DefaultPidsLimit = 4096

	// Labels on leases this package creates, so New can find stale ones.
	ownerLabel = "snapgate/owner"
	ownerValue = "engine"
	// nodeLabel on a lease names the node (Options.Node) whose process
	// made it: a restarted process deletes its node's leases at once.
	nodeLabel = "snapgate/node"
	// sourceLabel on an image records the reference it was pulled from.
	sourceLabel = "snapgate/source"

	maxReferenceLen = 512

	// FaultCaptureAfterFreeze is reached with a capture's sandbox frozen.
	FaultCaptureAfterFreeze = "capture.after-freeze"
)

// Options configures New.
type Options struct {
	Address     string // containerd socket; DefaultAddress when empty
	Namespace   string // DefaultNamespace when empty
	Snapshotter string // DefaultSnapshotter when empty
	// InsecureRegistries lists host:port values reached over plain HTTP.
	// Every other registry is reached over HTTPS only.
	InsecureRegistries []string
	Logger             *slog.Logger // discards when nil

	// LeaseTTL bounds how long a pull's lease pins content if the process
	// dies mid-pull (containerd's GC drops expired leases). Default 1 h.
	LeaseTTL time.Duration
	// StaleLeaseAge: at New, leases of this package older than this are
	// deleted. It must exceed the longest pull another live process sharing
	// the namespace may be running. Default 30 min.
	StaleLeaseAge time.Duration

	// InitBinary is a static busybox on the host, bind-mounted read-only
	// into every sandbox as its long-running process, so images without a
	// shell (or without sleep) still make sandboxes. Default /bin/busybox;
	// only StartSandbox needs it (and fails clearly when it is missing).
	InitBinary string
	// PidsLimit caps the processes of one sandbox (fork bombs). Default 4096.
	PidsLimit int64
	// WarmPool is how many started, idle sandboxes are kept ready per
	// recently used image, so a start adopts one instead of creating the
	// container and task (pool.go). 0 (the default) disables the pool.
	WarmPool int
	// WarmImages is how many recently used images are kept warm. Default 4.
	WarmImages int
	// Node names this process's node, stable across its restarts (one
	// process per node and namespace). Leases are labelled with it and New
	// deletes the node's leases whatever their age: their process is dead.
	// Empty leaves only StaleLeaseAge to clean up.
	Node string
	// Fault, when set, is called at FaultCaptureAfterFreeze so crash tests
	// can kill the process with a sandbox frozen. Nil does nothing.
	Fault func(point string)
	// DiskDir, when set, bounds every sandbox's writes with a disk of its
	// own (disk.go): images of SandboxSpec.DiskBytes live under it, and
	// New fails when the host cannot loop-mount them. Empty leaves
	// sandboxes writing to the snapshotter's file system unbounded.
	DiskDir string
	// HostUserNamespace runs sandboxes in the host's user namespace, as
	// before user namespaces (root in a sandbox is root on the host, held
	// back by capabilities, seccomp and no_new_privs; setuid binaries do
	// not work). A degraded mode for engines older than supported
	// (version.go); by default every sandbox gets a namespace (userns.go).
	HostUserNamespace bool
	// IDClaimDir holds the host's claims of user namespace id ranges,
	// shared by every snapgate on the host. Default DefaultIDClaimDir.
	IDClaimDir string
	// Network, when set, puts every sandbox on the node's network with
	// egress under its policy (network.go); it needs user namespaces
	// (the address is the id range's). Nil leaves sandboxes with only a
	// loopback interface.
	Network *NetworkOptions
	// OnCapture, when set, is told how long each successful capture kept
	// the sandbox frozen and how long it took in all (for benchmarks).
	OnCapture func(paused, total time.Duration)
}

// Engine is a core.Engine backed by containerd. Safe for concurrent use.
type Engine struct {
	client      *containerd.Client
	ns          string
	snapshotter string
	insecure    map[string]bool
	http        *http.Client
	log         *slog.Logger
	leaseTTL    time.Duration
	clog        *clog.Entry
	pulls       keyRWLock // one pull per source at a time

	initBinary string
	pidsLimit  int64
	onCapture  func(paused, total time.Duration)
	node       string
	fault      func(point string)
	sandboxes  keyRWLock   // one start or kill per sandbox id at a time
	disks      *disks      // nil: sandbox writes are not bounded
	claims     *idClaims   // nil: sandboxes share the host's user namespace
	net        *sandboxNet // nil: sandboxes have only loopback
	// freezes serializes what freezes or thaws one sandbox (pause, resume,
	// a capture's freeze) and exec starts, so a capture's own pause and
	// resume never undo a client's, nor make an exec fail as "paused".
	freezes keyRWLock
	// files is shared by dataplane calls that change a sandbox's files
	// (HoldFiles) and taken alone by a capture for its frozen window, so
	// the host writes nothing into a tree being captured (the freezer
	// stops only the sandbox's own processes).
	files keyRWLock
	// execs are the exec processes running, by sandbox.
	execs     liveExecs
	pool      *warmPool  // nil on a zero Engine: no warm sandboxes
	criu      *criuProbe // nil on a zero Engine: no memory snapshots
	forceDiff bool       // captures take the diff-service path (tests)
	// beforeFreeze runs between a fast capture's pre-copy and its freeze,
	// so tests can change files the pre-copy has already seen.
	beforeFreeze func()
	// afterNewTask runs between a task's creation and its start, and
	// afterWarmContainer between a warm sandbox's container and its task
	// (tests).
	afterNewTask       func(id string)
	afterWarmContainer func(id string)
}

var (
	_ core.Engine        = (*Engine)(nil)
	_ core.SandboxEngine = (*Engine)(nil)
)

// New connects to containerd, checks that it answers, and deletes stale
// leases. ErrUnavailable when containerd does not answer. The client waits
// for a missing socket to appear, so give ctx a deadline (at most 10 s is
// spent connecting).
func New(ctx context.Context, opt Options) (*Engine, error) {
	opt = withDefaults(opt)
	c, err := containerd.New(opt.Address, containerd.WithDefaultNamespace(opt.Namespace))
	if err != nil {
		return nil, fmt.Errorf("engine: connect to containerd at %s: %w", opt.Address, err)
	}
	e := &Engine{
		client:      c,
		ns:          opt.Namespace,
		snapshotter: opt.Snapshotter,
		insecure:    map[string]bool{},
		http:        &http.Client{Transport: docker.DefaultHTTPTransport(nil)},
		log:         opt.Logger,
		leaseTTL:    opt.LeaseTTL,
		clog:        containerdLogger(opt.Logger),
		initBinary:  opt.InitBinary,
		pidsLimit:   opt.PidsLimit,
		onCapture:   opt.OnCapture,
		node:        opt.Node,
		fault:       opt.Fault,
	}
	for _, h := range opt.InsecureRegistries {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			e.insecure[h] = true
		}
	}
	if err := e.Ping(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	if err := e.deleteStaleLeases(ctx, opt.StaleLeaseAge); err != nil {
		_ = c.Close()
		return nil, err
	}
	if err := e.checkEngine(ctx, !opt.HostUserNamespace); err != nil {
		_ = c.Close()
		return nil, err
	}
	if !opt.HostUserNamespace {
		if err := e.startClaims(ctx, opt.IDClaimDir, opt.Address); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	if opt.Network != nil {
		if opt.HostUserNamespace {
			_ = c.Close()
			return nil, fmt.Errorf("engine: the sandbox network needs user namespaces")
		}
		if e.net, err = newSandboxNet(ctx, *opt.Network, opt.Namespace, opt.Logger); err == nil {
			err = e.startNetwork(e.withNS(ctx))
		}
		if err != nil {
			if e.net != nil {
				e.net.close()
			}
			_ = c.Close()
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	if opt.DiskDir != "" {
		if e.disks, err = newDisks(opt.DiskDir, opt.Namespace); err == nil {
			err = e.disks.checkMountsReach(opt.Address)
		}
		if err != nil {
			if e.net != nil {
				e.net.close()
			}
			_ = c.Close()
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	if err := e.removeStaleWarm(ctx); err != nil {
		if e.net != nil {
			e.net.close()
		}
		_ = c.Close()
		return nil, err
	}
	if err := e.removeOrphanTasks(ctx); err != nil {
		e.log.WarnContext(ctx, "tasks without a container left in place", "err", err)
	}
	e.pool = newWarmPool(opt.WarmPool, opt.WarmImages)
	e.criu = startCRIUProbe(opt.Logger)
	if err := e.checkInitBinary(); err != nil {
		e.log.WarnContext(ctx, "sandboxes cannot start", "err", err)
	}
	return e, nil
}

func withDefaults(opt Options) Options {
	if opt.Address == "" {
		opt.Address = DefaultAddress
	}
	if opt.Namespace == "" {
		opt.Namespace = DefaultNamespace
	}
	if opt.Snapshotter == "" {
		opt.Snapshotter = DefaultSnapshotter
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.LeaseTTL <= 0 {
		opt.LeaseTTL = time.Hour
	}
	if opt.StaleLeaseAge <= 0 {
		opt.StaleLeaseAge = 30 * time.Minute
	}
	if opt.InitBinary == "" {
		opt.InitBinary = DefaultInitBinary
	}
	if opt.IDClaimDir == "" {
		opt.IDClaimDir = DefaultIDClaimDir
	}
	if opt.WarmImages <= 0 {
		opt.WarmImages = 4
	}
	if opt.PidsLimit <= 0 {
		opt.PidsLimit = DefaultPidsLimit
	}
	if opt.Fault == nil {
		opt.Fault = func(string) {}
	}
	return opt
}

// Close removes idle warm sandboxes and releases the connection to
// containerd.
func (e *Engine) Close() error {
	e.closePool()
	if e.net != nil {
		e.net.close()
	}
	e.http.CloseIdleConnections()
	return e.client.Close()
}

// withNS puts the engine's namespace (and the client's logger) on ctx;
// every containerd call goes through it.
func (e *Engine) withNS(ctx context.Context) context.Context {
	return clog.WithLogger(namespaces.WithNamespace(ctx, e.ns), e.clog)
}

// Ping reports whether containerd answers. ErrUnavailable.
func (e *Engine) Ping(ctx context.Context) error {
	if _, err := e.client.Version(e.withNS(ctx)); err != nil {
		return core.WithCause(core.ErrUnavailable, err, "the container engine is unavailable")
	}
	return nil
}

// NormalizeReference canonicalizes ref the way docker does ("busybox" ->
// "docker.io/library/busybox:latest"; a digest wins over a tag).
// ErrInvalidArgument.
func (e *Engine) NormalizeReference(ref string) (string, error) {
	named, err := parseReference(ref)
	if err != nil {
		return "", err
	}
	return named.String(), nil
}

func parseReference(ref string) (reference.Named, error) {
	if ref == "" {
		return nil, core.Errorf(core.ErrInvalidArgument, "docker_image is required")
	}
	if len(ref) > maxReferenceLen {
		return nil, core.Errorf(core.ErrInvalidArgument, "docker_image is %d characters long; at most %d are allowed", len(ref), maxReferenceLen)
	}
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return nil, core.WithCause(core.ErrInvalidArgument, err, "docker_image %q is not a valid image reference: %v", ref, err)
	}
	return named, nil
}

// TagImage records `from`'s target under `to` as well (labels included), so
// both names share content and snapshots. ErrNotFound when `from` is gone.
func (e *Engine) TagImage(ctx context.Context, from, to string) error {
	ctx = e.withNS(ctx)
	is := e.client.ImageService()
	src, err := is.Get(ctx, from)
	if errdefs.IsNotFound(err) {
		return core.WithCause(core.ErrNotFound, err, "image %s not found", from)
	}
	if err != nil {
		return classify(err, "get image "+from)
	}
	_, err = putImage(ctx, is, images.Image{Name: to, Target: src.Target, Labels: src.Labels})
	return classify(err, "tag image "+from+" as "+to)
}

// putImage creates img or, when the name exists, replaces it: the same name
// always converges to the last target written.
func putImage(ctx context.Context, is images.Store, img images.Image) (images.Image, error) {
	for range 3 {
		created, err := is.Create(ctx, img)
		if err == nil {
			return created, nil
		}
		if !errdefs.IsAlreadyExists(err) {
			return images.Image{}, err
		}
		updated, err := is.Update(ctx, img)
		if !errdefs.IsNotFound(err) { // deleted in between: create again
			return updated, err
		}
	}
	return images.Image{}, fmt.Errorf("image %s keeps being created and deleted: %w", img.Name, errdefs.ErrAborted)
}

// RemoveImage deletes the record and, synchronously, the content and
// snapshots no other image uses. A missing image is not an error.
func (e *Engine) RemoveImage(ctx context.Context, name string) error {
	e.dropWarm(name) // warm sandboxes would keep its layers
	err := e.client.ImageService().Delete(e.withNS(ctx), name, images.SynchronousDelete())
	if err == nil || errdefs.IsNotFound(err) {
		return nil
	}
	return classify(err, "remove image "+name)
}

// ListImages returns the names of all images in the engine's namespace.
func (e *Engine) ListImages(ctx context.Context) ([]string, error) {
	imgs, err := e.client.ImageService().List(e.withNS(ctx))
	if err != nil {
		return nil, classify(err, "list images")
	}
	names := make([]string, 0, len(imgs))
	for _, img := range imgs {
		names = append(names, img.Name)
	}
	return names, nil
}

// deleteStaleLeases removes this package's leases older than maxAge, and
// all of this node's: a pull or capture that died with its process would
// otherwise pin content (and a capture's half-made snapshot) until expiry.
func (e *Engine) deleteStaleLeases(ctx context.Context, maxAge time.Duration) error {
	ctx = e.withNS(ctx)
	ls := e.client.LeasesService()
	all, err := ls.List(ctx, fmt.Sprintf("labels.%q==%s", ownerLabel, ownerValue))
	if err != nil {
		return classify(err, "list leases")
	}
	var errs []error
	for _, l := range all {
		own := e.node != "" && l.Labels[nodeLabel] == e.node
		if !own && time.Since(l.CreatedAt) < maxAge {
			continue
		}
		// Synchronous: what only the lease held (a capture's half-made
		// snapshot) is gone before this process starts work.
		if err := ls.Delete(ctx, l, leases.SynchronousDelete); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete lease %s: %w", l.ID, err))
			continue
		}
		e.log.InfoContext(ctx, "deleted stale lease", "lease", l.ID, "created_at", l.CreatedAt)
	}
	return classify(errors.Join(errs...), "delete stale leases")
}

// withLease runs under a new expiring lease, released with a live context
// even when ctx has ended, so the next GC may reclaim what nothing uses.
// After a failure the release collects at once what only the lease held
// (a partial pull, a failed capture's layer and snapshot).
func (e *Engine) withLease(ctx context.Context, fn func(context.Context) error) (err error) {
	ls := e.client.LeasesService()
	opts := []leases.Opt{
		leases.WithRandomID(),
		leases.WithExpiration(e.leaseTTL),
		leases.WithLabel(ownerLabel, ownerValue),
	}
	if e.node != "" {
		opts = append(opts, leases.WithLabel(nodeLabel, e.node))
	}
	l, err := ls.Create(ctx, opts...)
	if err != nil {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		var opts []leases.DeleteOpt
		if err != nil {
			opts = append(opts, leases.SynchronousDelete)
		}
		if derr := ls.Delete(rctx, l, opts...); derr != nil {
			e.log.WarnContext(ctx, "release lease", "lease", l.ID, "err", derr)
		}
	}()
	return fn(leases.WithLease(ctx, l.ID))
}
