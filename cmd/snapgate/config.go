package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine"
)

// Config is every setting of the server, read from SNAPGATE_* variables.
type Config struct {
	Listen             string
	DataDir            string
	DatabaseURL        string
	ContainerdAddress  string
	InsecureRegistries []string
	BootstrapAPIKey    string
	BootstrapTenant    string
	NodeName           string
	BuildWorkers       int
	WarmPool           int // idle started sandboxes per recent image
	WarmImages         int
	BuildTimeout       time.Duration
	// DefaultDiskBytes is the fs capacity of the default snapshot "base",
	// hence the disk of sandboxes started from it (E2B's default template).
	DefaultDiskBytes    int64
	MaxBodyBytes        int64
	DisableValidation   bool
	ContainerdNamespace string
	DefaultImage        string
	PublicURL           string
	E2BDomain           string
	// SandboxDisks bounds each sandbox's writes by a loop-mounted disk of
	// its own under DataDir/disks (SNAPGATE_SANDBOX_DISKS, default on;
	// "off" leaves sandboxes writing to the host's disk unbounded).
	SandboxDisks bool
	// SandboxUserNS gives every sandbox a user namespace of its own
	// (SNAPGATE_SANDBOX_USERNS, default on; "off" is the degraded mode for
	// engines older than containerd 2.0 / runc 1.3: sandboxes share the
	// host's user ids, and setuid binaries such as sudo do not work).
	SandboxUserNS bool
	// IDClaimDir is where this host's user id ranges are claimed, shared
	// by every snapgate on the host (SNAPGATE_ID_CLAIM_DIR).
	IDClaimDir string
	// Network puts sandboxes on the node's network (SNAPGATE_SANDBOX_*,
	// SNAPGATE_EGRESS_*; config_network.go); nil: loopback only.
	Network *engine.NetworkOptions
	// InitBinary is the static busybox sandboxes run as their init; the
	// path must hold it on the host and in this process's view alike.
	InitBinary string
	// ShutdownDelay is how long /readyz answers 503 while requests are
	// still served, before the listener closes: long enough for load
	// balancers (Kubernetes endpoints) to stop sending new requests.
	ShutdownDelay time.Duration
	// Quotas bound what each tenant holds (SNAPGATE_QUOTA_*; unset: a
	// share of the node, see defaultQuotas; 0 unlimited).
	Quotas core.Quotas
	// SnapshotRegistry is where snapshots are pushed so every node can
	// start sandboxes from them (a cluster); nil on a single node.
	SnapshotRegistry *core.SnapshotRegistry
	// ReconcileInterval is how often sandboxes are checked against
	// containerd (tasks that died, containers with no record).
	ReconcileInterval time.Duration
	// MetricsInterval is how often each running sandbox's resource usage
	// is sampled (E2B getMetrics); MetricsWindow how long samples are kept.
	MetricsInterval time.Duration
	MetricsWindow   time.Duration
	// Fault names a point (core.Fault*, engine.FaultCaptureAfterFreeze) at
	// which the process kills itself with SIGKILL: crash tests only.
	Fault string
	// Node is this node's address, capacity and heartbeat settings.
	Node NodeConfig
	// Secrets seal registry passwords and sandbox access tokens at rest.
	Secrets SecretKeys
	// HTTP bounds slow clients (SNAPGATE_HTTP_*_TIMEOUT).
	HTTP HTTPTimeouts
}

// LoadConfig reads the environment through getenv and validates it.
func LoadConfig(getenv func(string) string) (Config, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Listen:              get("SNAPGATE_LISTEN", "127.0.0.1:8080"),
		DataDir:             get("SNAPGATE_DATA_DIR", "./.snapgate"),
		DatabaseURL:         getenv("SNAPGATE_DATABASE_URL"),
		ContainerdAddress:   getenv("SNAPGATE_CONTAINERD_ADDRESS"),
		BootstrapAPIKey:     getenv("SNAPGATE_BOOTSTRAP_API_KEY"),
		BootstrapTenant:     get("SNAPGATE_BOOTSTRAP_TENANT", "default"),
		NodeName:            get("SNAPGATE_NODE_NAME", ""),
		ContainerdNamespace: get("SNAPGATE_CONTAINERD_NAMESPACE", "snapgate"),
		DisableValidation:   getenv("SNAPGATE_DISABLE_VALIDATION") == "1",
		DefaultImage:        getenv("SNAPGATE_DEFAULT_IMAGE"),
		PublicURL:           getenv("SNAPGATE_PUBLIC_URL"),
		E2BDomain:           getenv("SNAPGATE_E2B_DOMAIN"),
		InitBinary:          getenv("SNAPGATE_INIT_BINARY"),
		Fault:               getenv("SNAPGATE_FAULT"),
	}
	var errs []error
	for _, h := range splitList(getenv("SNAPGATE_INSECURE_REGISTRIES")) {
		if _, _, err := net.SplitHostPort(h); err != nil {
			errs = append(errs, fmt.Errorf("SNAPGATE_INSECURE_REGISTRIES: %q is not host:port", h))
		}
		c.InsecureRegistries = append(c.InsecureRegistries, h)
	}
	switch v := get("SNAPGATE_SANDBOX_DISKS", "on"); v {
	case "on", "off":
		c.SandboxDisks = v == "on"
	default:
		errs = append(errs, fmt.Errorf("SNAPGATE_SANDBOX_DISKS must be on or off, got %q", v))
	}
	switch v := get("SNAPGATE_SANDBOX_USERNS", "on"); v {
	case "on", "off":
		c.SandboxUserNS = v == "on"
	default:
		errs = append(errs, fmt.Errorf("SNAPGATE_SANDBOX_USERNS must be on or off, got %q", v))
	}
	c.IDClaimDir = get("SNAPGATE_ID_CLAIM_DIR", "")
	var err error
	if c.Network, err = loadNetwork(get, c.SandboxUserNS); err != nil {
		errs = append(errs, err)
	}
	if c.BuildWorkers, err = strconv.Atoi(get("SNAPGATE_BUILD_WORKERS", "4")); err != nil || c.BuildWorkers < 1 {
		errs = append(errs, fmt.Errorf("SNAPGATE_BUILD_WORKERS must be a positive integer"))
	}
	if c.WarmPool, err = strconv.Atoi(get("SNAPGATE_WARM_POOL", "1")); err != nil || c.WarmPool < 0 {
		errs = append(errs, fmt.Errorf("SNAPGATE_WARM_POOL must be 0 or a positive integer"))
	}
	if c.WarmImages, err = strconv.Atoi(get("SNAPGATE_WARM_IMAGES", "4")); err != nil || c.WarmImages < 1 {
		errs = append(errs, fmt.Errorf("SNAPGATE_WARM_IMAGES must be a positive integer"))
	}
	if c.DefaultDiskBytes, err = strconv.ParseInt(get("SNAPGATE_DEFAULT_DISK_BYTES", strconv.Itoa(8<<30)), 10, 64); err != nil || c.DefaultDiskBytes < 16<<20 {
		errs = append(errs, fmt.Errorf("SNAPGATE_DEFAULT_DISK_BYTES must be a number of bytes, at least 16 MiB"))
	}
	if c.BuildTimeout, err = time.ParseDuration(get("SNAPGATE_BUILD_TIMEOUT", "15m")); err != nil || c.BuildTimeout <= 0 {
		errs = append(errs, fmt.Errorf("SNAPGATE_BUILD_TIMEOUT must be a positive duration like 15m"))
	}
	if c.ReconcileInterval, err = time.ParseDuration(get("SNAPGATE_RECONCILE_INTERVAL", "30s")); err != nil || c.ReconcileInterval <= 0 {
		errs = append(errs, fmt.Errorf("SNAPGATE_RECONCILE_INTERVAL must be a positive duration like 30s"))
	}
	if c.MetricsInterval, err = time.ParseDuration(get("SNAPGATE_METRICS_INTERVAL", "5s")); err != nil || c.MetricsInterval < time.Second {
		errs = append(errs, fmt.Errorf("SNAPGATE_METRICS_INTERVAL must be a duration of at least 1s, like 5s"))
	}
	if c.MetricsWindow, err = time.ParseDuration(get("SNAPGATE_METRICS_WINDOW", "1h")); err != nil || c.MetricsWindow < c.MetricsInterval {
		errs = append(errs, fmt.Errorf("SNAPGATE_METRICS_WINDOW must be a duration like 1h, at least SNAPGATE_METRICS_INTERVAL"))
	}
	if c.ShutdownDelay, err = time.ParseDuration(get("SNAPGATE_SHUTDOWN_DELAY", "0s")); err != nil || c.ShutdownDelay < 0 {
		errs = append(errs, fmt.Errorf("SNAPGATE_SHUTDOWN_DELAY must be a duration like 5s (0s for none)"))
	}
	if c.HTTP, err = loadHTTPTimeouts(get); err != nil {
		errs = append(errs, err)
	}
	if c.SnapshotRegistry, err = loadSnapshotRegistry(getenv); err != nil {
		errs = append(errs, err)
	}
	if c.Node, err = loadNodeConfig(getenv, c.Listen); err != nil {
		errs = append(errs, err)
	}
	if c.MaxBodyBytes, err = strconv.ParseInt(get("SNAPGATE_MAX_BODY_BYTES", "1048576"), 10, 64); err != nil || c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("SNAPGATE_MAX_BODY_BYTES must be an integer >= 1024"))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("SNAPGATE_LISTEN: %q is not host:port", c.Listen))
	}
	if c.DataDir, err = filepath.Abs(c.DataDir); err != nil {
		errs = append(errs, fmt.Errorf("SNAPGATE_DATA_DIR: %w", err))
	}
	if c.Network != nil {
		c.Network.Dir = filepath.Join(c.DataDir, "net")
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = filepath.Join(c.DataDir, "snapgate.db")
	}
	if c.Secrets, err = loadSecretKeys(getenv, c.DataDir, c.SnapshotRegistry != nil); err != nil {
		errs = append(errs, err)
	}
	if c.ContainerdAddress == "" {
		c.ContainerdAddress = "/run/containerd/containerd.sock"
	}
	if err := c.sizeFromNode(getenv); err != nil {
		errs = append(errs, err)
	}
	if c.NodeName == "" {
		// Stable across restarts of this node, so it resumes its own builds.
		host, _ := os.Hostname()
		c.NodeName = host + ":" + c.DataDir
	}
	return c, errors.Join(errs...)
}

// sizeFromNode sets what defaults to a share of the node, once the node's
// capacity, the warm pool and the data dir are known: each sandbox's
// pids.max and the tenants' quotas.
func (c *Config) sizeFromNode(getenv func(string) string) error {
	var errs []error
	var err error
	warm := int64(c.WarmPool) * int64(c.WarmImages)
	if c.Node.SandboxPids, err = loadSandboxPids(getenv, c.Node, warm); err != nil {
		errs = append(errs, err)
	}
	var def core.Quotas
	if quotaDefaultsNeeded(getenv) {
		if def, err = defaultQuotas(c.Node, c.DataDir); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Quotas, err = loadQuotas(getenv, def); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
