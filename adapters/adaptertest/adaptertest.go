// Package adaptertest wires core for the adapters' HTTP tests: a real
// SQLite store, the fake engine of core/coretest, keys of two tenants, and
// an edge.Router set up like cmd/snapgate's that can check every response
// against the adapter's spec. Test-only; imports adapters/edge, core,
// core/coretest, store, gin and kin-openapi.
package adaptertest

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
	"github.com/snapgate/snapgate/core/secrets"
	"github.com/snapgate/snapgate/store"
)

// DefaultImage backs the "base" snapshot in these tests.
const DefaultImage = "registry.test/busybox:latest"

// Env is core over a real SQLite store and the fake engine, with a key of
// tenant-a and one of tenant-b. Snapshot builds run until the test ends.
type Env struct {
	Store     *store.Store
	Engine    *coretest.Engine
	Keys      *core.Keys
	Snapshots *core.Snapshots
	Sandboxes *core.Sandboxes
	// Metrics samples only when a test calls Sample: nothing runs it.
	Metrics    *core.Metrics
	Registries *core.Registries
	// Dataplane runs on DataEngine: host processes and a directory per
	// sandbox (see coretest.DataplaneEngine), for in-sandbox API tests.
	Dataplane  *core.Dataplane
	DataEngine *coretest.DataplaneEngine
	// ServiceURLs seals tokens with a key of the test's own and reads
	// the time from Clock, which tests move forward to expire tokens.
	ServiceURLs *core.ServiceURLs
	Clock       *Clock
	KeyA, KeyB  string
}

// Clock is the real time plus an offset tests advance.
type Clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().UTC().Add(c.off)
}

// Advance moves the clock d forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// Logger discards everything.
func Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// New wires core for one test.
func New(t testing.TB) *Env {
	t.Helper()
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"), Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &Env{Store: st, Engine: coretest.NewEngine(1 << 20)}
	e.Keys = &core.Keys{Store: st, Clock: core.SystemClock{}, IDs: uuid.NewString}
	e.Registries = &core.Registries{Store: st, Clock: core.SystemClock{}, IDs: uuid.NewString}
	if e.KeyA, err = e.Keys.Create(ctx, "tenant-a", ""); err != nil {
		t.Fatal(err)
	}
	if e.KeyB, err = e.Keys.Create(ctx, "tenant-b", ""); err != nil {
		t.Fatal(err)
	}
	e.Snapshots, err = core.NewSnapshots(core.SnapshotsOptions{Store: st, Engine: e.Engine, Owner: "test", Logger: Logger()})
	if err != nil {
		t.Fatal(err)
	}
	e.Sandboxes, err = core.NewSandboxes(core.SandboxesOptions{
		Store: st, Engine: e.Engine, Snapshots: e.Snapshots, Node: "test", Logger: Logger(), DefaultImage: DefaultImage,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Metrics, err = core.NewMetrics(core.MetricsOptions{
		Sandboxes: e.Sandboxes, Store: st, Engine: e.Engine, Node: "test", Logger: Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.DataEngine = coretest.NewDataplaneEngine(t.TempDir(), e.Engine.SandboxState)
	t.Cleanup(e.DataEngine.Close)
	e.Dataplane, err = core.NewDataplane(core.DataplaneOptions{
		Store: st, Engine: e.DataEngine, Sandboxes: e.Sandboxes, Logger: Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	ring, err := secrets.New(key)
	if err != nil {
		t.Fatal(err)
	}
	e.Clock = &Clock{}
	e.ServiceURLs, err = core.NewServiceURLs(core.ServiceURLsOptions{
		Store: st, Sandboxes: e.Sandboxes, Dataplane: e.Dataplane, Sealer: ring, Clock: e.Clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Snapshots.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// Serve mounts an adapter (its Mount method) on an edge.Router as
// cmd/snapgate configures one, minus body limits and forwarding, and
// serves it until the test ends; see ValidateResponses for its option.
func Serve(t testing.TB, mount func(*edge.Router) error, opts ...ServeOption) *httptest.Server {
	t.Helper()
	var cfg serveConfig
	for _, o := range opts {
		o(&cfg)
	}
	gin.SetMode(gin.TestMode)
	var outer []gin.HandlerFunc
	if cfg.spec != nil {
		outer = append(outer, responseValidator(t, cfg.spec))
	}
	r := edge.NewRouter(edge.Options{Logger: Logger(), Outer: outer})
	if err := mount(r); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}
