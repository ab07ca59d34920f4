// Package testregistry serves OCI images from an in-process registry on
// loopback, for tests and benchmarks that must not touch the internet.
//
// Images are built with go-containerregistry from the host's statically
// linked /bin/busybox (Debian package busybox-static), see BusyboxImage. The
// registry speaks plain HTTP, can require basic auth, and counts blob
// downloads per digest so a test can check what a client fetched.
//
// It imports go-containerregistry and the standard library only; nothing in
// snapgate's production code imports it.
package testregistry

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is a running in-process registry. Its methods are safe for
// concurrent use.
type Registry struct {
	addr   string
	srv    *http.Server
	cfg    config
	stop   func() bool
	closed sync.Once

	mu        sync.Mutex
	blobGets  map[string]int // digest -> authorized GETs of /v2/<repo>/blobs/<digest>
	listenErr chan error
}

type config struct {
	listen   string
	username string
	password string
	logf     func(format string, args ...any)
}

// Option configures Start.
type Option func(*config)

// WithBasicAuth makes every request require HTTP basic auth with these
// credentials (401 with a Basic challenge otherwise). Push uses them too.
func WithBasicAuth(username, password string) Option {
	return func(c *config) { c.username, c.password = username, password }
}

// WithListenAddress listens on addr instead of 127.0.0.1:0.
func WithListenAddress(addr string) Option {
	return func(c *config) { c.listen = addr }
}

// WithLogf sends the registry's request log to logf (for example t.Logf).
// By default it is discarded.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *config) { c.logf = logf }
}

// Start listens on 127.0.0.1:0 (or WithListenAddress) and serves until Close
// or until ctx ends.
func Start(ctx context.Context, opts ...Option) (*Registry, error) {
	cfg := config{listen: "127.0.0.1:0"}
	for _, o := range opts {
		o(&cfg)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.listen)
	if err != nil {
		return nil, fmt.Errorf("testregistry: listen on %s: %w", cfg.listen, err)
	}
	logger := log.New(io.Discard, "", 0)
	if cfg.logf != nil {
		logger = log.New(logfWriter(cfg.logf), "testregistry: ", 0)
	}
	r := &Registry{
		addr:      ln.Addr().String(),
		cfg:       cfg,
		blobGets:  map[string]int{},
		listenErr: make(chan error, 1),
	}
	r.srv = &http.Server{
		Handler:           r.wrap(ggcrregistry.New(ggcrregistry.Logger(logger))),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger,
	}
	go func() { r.listenErr <- r.srv.Serve(ln) }()
	r.stop = context.AfterFunc(ctx, func() { _ = r.Close() })
	return r, nil
}

// Addr is the registry's host:port, the first component of references to
// its images ("127.0.0.1:40123/busybox:latest").
func (r *Registry) Addr() string { return r.addr }

// Ref returns the reference of repo:tag in this registry.
func (r *Registry) Ref(repo, tag string) string { return r.addr + "/" + repo + ":" + tag }

// Close stops serving and closes open connections. It is idempotent.
func (r *Registry) Close() error {
	var err error
	r.closed.Do(func() {
		if r.stop != nil {
			r.stop()
		}
		err = r.srv.Close()
		if serr := <-r.listenErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	})
	return err
}

// Push uploads img as repo:tag and returns its manifest digest
// ("sha256:...").
func (r *Registry) Push(ctx context.Context, repo, tag string, img v1.Image) (string, error) {
	ref, err := name.ParseReference(r.Ref(repo, tag), name.Insecure)
	if err != nil {
		return "", fmt.Errorf("testregistry: reference %s:%s: %w", repo, tag, err)
	}
	if err := remote.Write(ref, img, r.remoteOptions(ctx)...); err != nil {
		return "", fmt.Errorf("testregistry: push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("testregistry: digest of %s: %w", ref, err)
	}
	return d.String(), nil
}

// PushIndex uploads a multi-platform index as repo:tag and returns the
// index digest.
func (r *Registry) PushIndex(ctx context.Context, repo, tag string, idx v1.ImageIndex) (string, error) {
	ref, err := name.ParseReference(r.Ref(repo, tag), name.Insecure)
	if err != nil {
		return "", fmt.Errorf("testregistry: reference %s:%s: %w", repo, tag, err)
	}
	if err := remote.WriteIndex(ref, idx, r.remoteOptions(ctx)...); err != nil {
		return "", fmt.Errorf("testregistry: push index %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", fmt.Errorf("testregistry: digest of %s: %w", ref, err)
	}
	return d.String(), nil
}

func (r *Registry) remoteOptions(ctx context.Context) []remote.Option {
	opts := []remote.Option{remote.WithContext(ctx)}
	if r.cfg.username != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: r.cfg.username, Password: r.cfg.password}))
	}
	return opts
}

// BlobGets returns how many authorized GET requests the blob with this
// digest received, over all repositories. Note that containerd shares
// blobs between namespaces: a client never fetches a blob that any
// namespace of the same containerd already holds, so tests that count
// fetches should push an image of their own (BusyboxImage with a WithFile
// unique to the test).
func (r *Registry) BlobGets(digest string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blobGets[digest]
}

// BlobGetCounts returns a copy of all blob GET counts by digest.
func (r *Registry) BlobGetCounts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.blobGets))
	for k, v := range r.blobGets {
		out[k] = v
	}
	return out
}

// ResetCounts forgets all blob GET counts.
func (r *Registry) ResetCounts() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.blobGets)
}

// wrap adds basic auth and blob GET counting in front of the registry.
func (r *Registry) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.cfg.username != "" && !r.authorized(req) {
			w.Header().Set("WWW-Authenticate", `Basic realm="testregistry"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		if req.Method == http.MethodGet {
			if d, ok := blobDigest(req.URL.Path); ok {
				r.mu.Lock()
				r.blobGets[d]++
				r.mu.Unlock()
			}
		}
		next.ServeHTTP(w, req)
	})
}

func (r *Registry) authorized(req *http.Request) bool {
	u, p, ok := req.BasicAuth()
	if !ok {
		return false
	}
	uok := subtle.ConstantTimeCompare([]byte(u), []byte(r.cfg.username)) == 1
	pok := subtle.ConstantTimeCompare([]byte(p), []byte(r.cfg.password)) == 1
	return uok && pok
}

// blobDigest extracts the digest of /v2/<repo>/blobs/<digest>; upload
// endpoints (/blobs/uploads/...) do not match.
func blobDigest(path string) (string, bool) {
	i := strings.LastIndex(path, "/blobs/")
	if !strings.HasPrefix(path, "/v2/") || i < 0 {
		return "", false
	}
	d := path[i+len("/blobs/"):]
	if !strings.HasPrefix(d, "sha256:") || strings.Contains(d, "/") {
		return "", false
	}
	return d, true
}

type logfWriter func(format string, args ...any)

func (f logfWriter) Write(p []byte) (int, error) {
	f("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
