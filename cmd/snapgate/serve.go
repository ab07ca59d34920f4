package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/snapgate/snapgate/adapters/e2b"
	"github.com/snapgate/snapgate/adapters/e2b/envd"
	"github.com/snapgate/snapgate/adapters/e2b/ports"
	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/adapters/langsmith"
	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine"
	"github.com/snapgate/snapgate/specs"
	"github.com/snapgate/snapgate/store"
)

// openStore opens the store with the keyring that seals its secrets,
// which also seals service tokens.
func openStore(ctx context.Context, cfg Config, logger *slog.Logger) (*store.Store, core.Sealer, error) {
	if err := privateDir(cfg.DataDir, logger); err != nil {
		return nil, nil, err
	}
	ring, err := cfg.Secrets.keyring(logger)
	if err != nil {
		return nil, nil, fmt.Errorf("secret key: %w", err)
	}
	st, err := store.New(ctx, store.Options{DSN: cfg.DatabaseURL, Logger: logger, Sealer: ring})
	if err != nil {
		return nil, nil, fmt.Errorf("open store: %w", err)
	}
	return st, ring, nil
}

// privateDir creates the data dir 0700, or makes an existing one 0700: it
// holds the database and the secret key, which nobody else may read (an
// operator's `mkdir -p` leaves it 0755).
func privateDir(dir string, logger *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("stat data dir: %w", err)
	}
	if st.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("make data dir %s private: %w", dir, err)
	}
	logger.Warn("data dir was readable by others: made it 0700", "data_dir", dir, "was", st.Mode().Perm().String())
	return nil
}

// faultFunc returns nil (no fault) for an empty point, else a hook that
// kills this process with SIGKILL when it reaches point: no deferred
// call, no shutdown, exactly what a crash leaves behind.
func faultFunc(point string, logger *slog.Logger) func(string) {
	if point == "" {
		return nil
	}
	return func(at string) {
		if at != point {
			return
		}
		logger.Warn("fault injected: killing the process", "point", at)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not delivered synchronously; never go on
	}
}

func newKeys(st core.Store) *core.Keys {
	return &core.Keys{Store: st, Clock: core.SystemClock{}, IDs: uuid.NewString, CacheTTL: 5 * time.Second}
}

// Server is a wired snapgate: services plus the HTTP handler.
type Server struct {
	Handler   http.Handler
	Snapshots *core.Snapshots
	Sandboxes *core.Sandboxes
	Dataplane *core.Dataplane
	Nodes     *core.Nodes
	// SandboxMetrics samples this node's sandboxes (E2B getMetrics).
	SandboxMetrics *core.Metrics
	store          *store.Store
	sealer         core.Sealer
	// serviceURLs shares boxes' ports (LangSmith service URLs).
	serviceURLs *core.ServiceURLs
	engine      *engine.Engine
	cfg         Config
	metrics     *metrics
	// draining is set once shutdown began: /readyz answers 503 from then.
	draining atomic.Bool
}

// NewServer wires store, engine, core and adapters.
func NewServer(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	st, sealer, err := openStore(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	// engine.New waits for the socket until its context ends: bound it.
	ectx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	diskDir := ""
	if cfg.SandboxDisks {
		diskDir = filepath.Join(cfg.DataDir, "disks")
	}
	eng, err := engine.New(ectx, engine.Options{
		Address: cfg.ContainerdAddress, Namespace: cfg.ContainerdNamespace,
		InsecureRegistries: cfg.InsecureRegistries, Logger: logger,
		WarmPool: cfg.WarmPool, WarmImages: cfg.WarmImages, InitBinary: cfg.InitBinary,
		Node: cfg.NodeName, Fault: faultFunc(cfg.Fault, logger), DiskDir: diskDir,
		HostUserNamespace: !cfg.SandboxUserNS, IDClaimDir: cfg.IDClaimDir, Network: cfg.Network,
		PidsLimit: cfg.Node.SandboxPids,
	})
	if err != nil {
		st.Close()
		if errors.Is(err, engine.ErrNoDisks) {
			return nil, fmt.Errorf("%w (SNAPGATE_SANDBOX_DISKS=off runs sandboxes without a disk bound)", err)
		}
		return nil, fmt.Errorf("connect to containerd at %s: %w", cfg.ContainerdAddress, err)
	}
	logCapacity(ctx, cfg, logger)
	srv := &Server{store: st, sealer: sealer, engine: eng, cfg: cfg}
	if srv.metrics, err = newMetrics(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := srv.wire(ctx, logger); err != nil {
		srv.Close()
		return nil, err
	}
	return srv, nil
}

func (s *Server) wire(ctx context.Context, logger *slog.Logger) error {
	keys := newKeys(s.store)
	if s.cfg.BootstrapAPIKey != "" {
		if err := keys.Ensure(ctx, s.cfg.BootstrapTenant, s.cfg.BootstrapAPIKey); err != nil {
			return fmt.Errorf("bootstrap api key: %w", err)
		}
	}
	snaps, err := core.NewSnapshots(core.SnapshotsOptions{
		Store: s.store, Engine: s.engine, Logger: logger, Owner: s.cfg.NodeName,
		Quotas:  s.cfg.Quotas,
		Workers: s.cfg.BuildWorkers, BuildTimeout: s.cfg.BuildTimeout, Observer: s.metrics,
		SnapshotRegistry: s.cfg.SnapshotRegistry, Fault: faultFunc(s.cfg.Fault, logger),
	})
	if err != nil {
		return err
	}
	if s.cfg.Node.Address == "" && s.cfg.SnapshotRegistry != nil {
		logger.Warn("no node address (SNAPGATE_NODE_ADDRESS unset, SNAPGATE_LISTEN a wildcard): other nodes will not forward calls or place sandboxes here")
	}
	nodes, err := core.NewNodes(core.NodesOptions{
		Store: s.store, Logger: logger,
		Self: core.Node{
			Name: s.cfg.NodeName, Address: s.cfg.Node.Address,
			VCPUs: s.cfg.Node.VCPUs, MemoryBytes: s.cfg.Node.MemoryBytes,
		},
		Interval: s.cfg.Node.HeartbeatInterval, Timeout: s.cfg.Node.HeartbeatTimeout,
		Pids: core.PidsBudget{
			Total: s.cfg.Node.Pids, PerSandbox: s.cfg.Node.SandboxPids,
			Reserved: int64(s.cfg.WarmPool) * int64(s.cfg.WarmImages) * s.cfg.Node.SandboxPids,
		},
	})
	if err != nil {
		return err
	}
	boxes, err := core.NewSandboxes(core.SandboxesOptions{
		Store: s.store, Engine: s.engine, Snapshots: snaps, Logger: logger, Node: s.cfg.NodeName,
		Quotas: s.cfg.Quotas, Nodes: nodes, Cluster: s.cfg.SnapshotRegistry != nil,
		DefaultImage: s.cfg.DefaultImage, DefaultFSCapacity: s.cfg.DefaultDiskBytes, Fault: faultFunc(s.cfg.Fault, logger),
		ReconcileInterval: s.cfg.ReconcileInterval,
	})
	if err != nil {
		return err
	}
	dp, err := core.NewDataplane(core.DataplaneOptions{
		Store: s.store, Engine: s.engine, Sandboxes: boxes, Logger: logger,
	})
	if err != nil {
		return err
	}
	s.Snapshots, s.Sandboxes, s.Dataplane, s.Nodes = snaps, boxes, dp, nodes
	if s.SandboxMetrics, err = core.NewMetrics(core.MetricsOptions{
		Sandboxes: boxes, Store: s.store, Engine: s.engine, Logger: logger, Node: s.cfg.NodeName,
		Interval: s.cfg.MetricsInterval, Window: s.cfg.MetricsWindow,
	}); err != nil {
		return err
	}
	if s.serviceURLs, err = core.NewServiceURLs(core.ServiceURLsOptions{
		Store: s.store, Sandboxes: boxes, Dataplane: dp, Sealer: s.sealer,
	}); err != nil {
		return err
	}
	mounts, err := s.adapters(ctx, keys, logger)
	if err != nil {
		return err
	}
	s.Handler, err = s.router(mounts, logger)
	return err
}

// adapters builds each vendor's adapter; each mounts itself on the router.
func (s *Server) adapters(ctx context.Context, keys *core.Keys, logger *slog.Logger) ([]func(*edge.Router) error, error) {
	validate := !s.cfg.DisableValidation
	lsSpec, err := specs.LangSmith(ctx)
	if err != nil {
		return nil, err
	}
	ls, err := langsmith.New(langsmith.Options{
		Snapshots: s.Snapshots, Sandboxes: s.Sandboxes, Keys: keys, Spec: lsSpec, Logger: logger,
		Validate: validate, PublicURL: s.cfg.PublicURL,
		Registries: &core.Registries{Store: s.store, Clock: core.SystemClock{}, IDs: uuid.NewString},
		Dataplane:  s.Dataplane, ServiceURLs: s.serviceURLs,
	})
	if err != nil {
		return nil, err
	}
	e2bSpec, err := specs.E2B(ctx)
	if err != nil {
		return nil, err
	}
	eb, err := e2b.New(e2b.Options{
		Sandboxes: s.Sandboxes, Snapshots: s.Snapshots, Metrics: s.SandboxMetrics, Keys: keys, Spec: e2bSpec, Logger: logger,
		Validate: validate, Domain: s.cfg.E2BDomain,
	})
	if err != nil {
		return nil, err
	}
	envdSpec, err := specs.Envd(ctx)
	if err != nil {
		return nil, err
	}
	ev, err := envd.New(envd.Options{Dataplane: s.Dataplane, Spec: envdSpec, Logger: logger, Validate: validate})
	if err != nil {
		return nil, err
	}
	pp, err := ports.New(ports.Options{Dataplane: s.Dataplane, Logger: logger})
	if err != nil {
		return nil, err
	}
	return []func(*edge.Router) error{ls.Mount, eb.Mount, ev.Mount, pp.Mount}, nil
}

// router mounts the vendors' APIs beside health and metrics. Calls about a
// sandbox another live node holds, and creates placed on another node,
// are proxied there by the mounts (core decides; only in a cluster).
func (s *Server) router(mounts []func(*edge.Router) error, logger *slog.Logger) (*edge.Router, error) {
	gin.SetMode(gin.ReleaseMode)
	r := edge.NewRouter(edge.Options{
		Logger: logger, BodyLimit: s.cfg.MaxBodyBytes, Progress: s.cfg.HTTP.Progress,
		Cluster: s.Sandboxes, Node: s.cfg.NodeName,
		Outer: []gin.HandlerFunc{s.metrics.instrument(), accessLog(logger)},
	})
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", s.metrics.handler(s.Sandboxes, logger))
	for _, mount := range mounts {
		if err := mount(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// healthz is liveness: it answers 200 while the process serves HTTP, and
// checks nothing else. A store or containerd outage is readyz's business:
// restarting every gateway because Postgres is down would not bring it back.
func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz is readiness: 200 when the store and containerd answer and the
// server is not shutting down, so load balancers send it new requests.
func (s *Server) readyz(c *gin.Context) {
	if s.draining.Load() {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "shutting down"})
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "store": "unreachable"})
		return
	}
	if err := s.engine.Ping(ctx); err != nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "containerd": "unreachable"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// Close releases the engine and store.
func (s *Server) Close() {
	if s.engine != nil {
		s.engine.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
}

// serve runs the server until ctx ends (see Serve), then closes it.
func serve(ctx context.Context, cfg Config, logger *slog.Logger) error {
	srv, err := NewServer(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	return srv.Serve(ctx, ln, logger)
}

// Serve runs the workers and answers on ln until ctx ends, then shuts down
// in order: answer /readyz with 503 while still serving for ShutdownDelay
// (load balancers stop sending), stop accepting, finish in-flight
// requests, hand back unfinished builds. The caller closes the server.
func (s *Server) Serve(ctx context.Context, ln net.Listener, logger *slog.Logger) error {
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { s.Snapshots.Run(workCtx) })
	wg.Go(func() { s.Sandboxes.Run(workCtx) })
	wg.Go(func() { s.Nodes.Run(workCtx) })
	wg.Go(func() { s.SandboxMetrics.Run(workCtx) })
	// Requests keep a live context through the delay and the drain: a
	// signal must not fail the requests it lets finish. It ends when
	// Shutdown returns, cutting off what still runs (WebSockets included:
	// Shutdown does not wait for hijacked connections).
	reqCtx, endRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer endRequests()
	hs := newHTTPServer(s.Handler, s.cfg.HTTP, reqCtx)
	logger.Info("snapgate listening", "addr", ln.Addr().String(), "data_dir", s.cfg.DataDir, "containerd", s.cfg.ContainerdAddress)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.draining.Store(true)
		logger.Info("shutting down", "delay", s.cfg.ShutdownDelay.String())
		select {
		case err = <-errc: // the server failed during the delay
		case <-time.After(s.cfg.ShutdownDelay):
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			err = hs.Shutdown(sctx)
			cancel()
		}
	}
	endRequests()
	stopWork()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// newHTTPServer serves h with base as every request's parent context.
// ReadTimeout covers headers and body of ordinary requests; streams and
// uploads replace it with progress deadlines of their own (progress). No
// WriteTimeout: it would cut long commands and downloads, which progress
// bounds instead.
func newHTTPServer(h http.Handler, t HTTPTimeouts, base context.Context) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, IdleTimeout: t.Idle,
		BaseContext: func(net.Listener) context.Context { return base },
	}
}
