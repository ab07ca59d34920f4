package main

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// NodeConfig is how this node appears to the others: where they reach it,
// what it can hold, and how it heartbeats.
type NodeConfig struct {
	// Address is the base URL other nodes forward calls to; empty when
	// SNAPGATE_LISTEN is a wildcard and no address was given (other nodes
	// then never forward to this one).
	Address     string
	VCPUs       int
	MemoryBytes int64
	// Pids is what the pids.max of this node's sandboxes may add up to
	// (warm ones included); 0 leaves it unchecked.
	Pids int64
	// SandboxPids is each sandbox's pids.max.
	SandboxPids       int64
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
}

// loadNodeConfig reads SNAPGATE_NODE_ADDRESS, _NODE_VCPUS,
// _NODE_MEMORY_BYTES, _NODE_PIDS (config_capacity.go) and _HEARTBEAT_INTERVAL/_TIMEOUT; listen is
// SNAPGATE_LISTEN, from which the address is derived when it names a host.
func loadNodeConfig(getenv func(string) string, listen string) (NodeConfig, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	var (
		c    NodeConfig
		errs []error
		err  error
	)
	c.Address = strings.TrimSuffix(get("SNAPGATE_NODE_ADDRESS"), "/")
	if c.Address != "" {
		if u, err := url.Parse(c.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("SNAPGATE_NODE_ADDRESS must be a base URL like http://10.0.0.5:8080, got %q", c.Address))
		}
	} else if host, _, err := net.SplitHostPort(listen); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			c.Address = "http://" + listen
		}
	}
	// A vCPU quota is a ceiling, and agents' sandboxes idle most of the
	// time: by default a node gives sandboxes 8 vCPUs per core it has.
	c.VCPUs = vcpuOvercommit * runtime.NumCPU()
	if v := get("SNAPGATE_NODE_VCPUS"); v != "" {
		if c.VCPUs, err = strconv.Atoi(v); err != nil || c.VCPUs < 1 {
			errs = append(errs, errors.New("SNAPGATE_NODE_VCPUS must be a positive integer"))
		}
	}
	if v := get("SNAPGATE_NODE_MEMORY_BYTES"); v != "" {
		if c.MemoryBytes, err = strconv.ParseInt(v, 10, 64); err != nil || c.MemoryBytes < 64<<20 {
			errs = append(errs, errors.New("SNAPGATE_NODE_MEMORY_BYTES must be an integer of at least 67108864 (64 MiB)"))
		}
	} else if c.MemoryBytes, err = memTotal(); err != nil {
		errs = append(errs, fmt.Errorf("SNAPGATE_NODE_MEMORY_BYTES unset and %w", err))
	}
	pm, pmErr := pidMax()
	switch {
	case pmErr == nil:
		c.Pids, err = loadPids(getenv, pm)
	case get("SNAPGATE_NODE_PIDS") != "":
		c.Pids, err = loadPids(getenv, math.MaxInt64)
	default:
		err = fmt.Errorf("SNAPGATE_NODE_PIDS unset and %w", pmErr)
	}
	if err != nil {
		errs = append(errs, err)
	}
	if c.HeartbeatInterval, err = time.ParseDuration(orDefault(get("SNAPGATE_HEARTBEAT_INTERVAL"), "5s")); err != nil || c.HeartbeatInterval <= 0 {
		errs = append(errs, errors.New("SNAPGATE_HEARTBEAT_INTERVAL must be a positive duration like 5s"))
	}
	if c.HeartbeatTimeout, err = time.ParseDuration(orDefault(get("SNAPGATE_HEARTBEAT_TIMEOUT"), "30s")); err != nil || c.HeartbeatTimeout <= c.HeartbeatInterval {
		errs = append(errs, errors.New("SNAPGATE_HEARTBEAT_TIMEOUT must be a duration longer than SNAPGATE_HEARTBEAT_INTERVAL"))
	}
	return c, errors.Join(errs...)
}

// vcpuOvercommit is how many sandbox vCPUs a core backs by default.
const vcpuOvercommit = 8

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// memTotal is MemTotal of /proc/meminfo in bytes.
func memTotal() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("cannot read /proc/meminfo: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bad MemTotal in /proc/meminfo: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no MemTotal in /proc/meminfo")
}
