package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("./.snapgate")
	if c.Listen != "127.0.0.1:8080" || c.DataDir != abs || c.DatabaseURL != filepath.Join(abs, "snapgate.db") ||
		c.ContainerdAddress != "/run/containerd/containerd.sock" || c.BootstrapTenant != "default" ||
		c.BuildWorkers != 4 || c.BuildTimeout != 15*time.Minute || c.MaxBodyBytes != 1<<20 || c.NodeName == "" || c.ShutdownDelay != 0 || c.InitBinary != "" ||
		c.DefaultDiskBytes != 8<<30 || !c.SandboxDisks || c.MetricsInterval != 5*time.Second || c.MetricsWindow != time.Hour {
		t.Errorf("defaults: %+v", c)
	}
}

func TestLoadConfigReadsAndRefuses(t *testing.T) {
	c, err := LoadConfig(env(map[string]string{
		"SNAPGATE_DATABASE_URL":        "postgres://u@h/db",
		"SNAPGATE_INSECURE_REGISTRIES": " 127.0.0.1:5000 , reg:80 ",
		"SNAPGATE_BUILD_TIMEOUT":       "30s",
		"SNAPGATE_SHUTDOWN_DELAY":      "5s",
		"SNAPGATE_INIT_BINARY":         "/var/lib/snapgate/bin/busybox",
		"SNAPGATE_DEFAULT_DISK_BYTES":  "1073741824",
		"SNAPGATE_SANDBOX_DISKS":       "off",
		"SNAPGATE_METRICS_INTERVAL":    "2s",
		"SNAPGATE_METRICS_WINDOW":      "10m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://u@h/db" || strings.Join(c.InsecureRegistries, ",") != "127.0.0.1:5000,reg:80" || c.BuildTimeout != 30*time.Second ||
		c.ShutdownDelay != 5*time.Second || c.InitBinary != "/var/lib/snapgate/bin/busybox" ||
		c.DefaultDiskBytes != 1<<30 || c.SandboxDisks || c.MetricsInterval != 2*time.Second || c.MetricsWindow != 10*time.Minute {
		t.Errorf("read: %+v", c)
	}
	_, err = LoadConfig(env(map[string]string{
		"SNAPGATE_LISTEN": "nope", "SNAPGATE_INSECURE_REGISTRIES": "no-port",
		"SNAPGATE_BUILD_WORKERS": "0", "SNAPGATE_BUILD_TIMEOUT": "soon", "SNAPGATE_MAX_BODY_BYTES": "12",
		"SNAPGATE_SHUTDOWN_DELAY": "-1s", "SNAPGATE_DEFAULT_DISK_BYTES": "1024", "SNAPGATE_SANDBOX_DISKS": "maybe",
		"SNAPGATE_METRICS_INTERVAL": "10ms", "SNAPGATE_METRICS_WINDOW": "1ms",
	}))
	for _, want := range []string{"SNAPGATE_LISTEN", "SNAPGATE_INSECURE_REGISTRIES", "SNAPGATE_BUILD_WORKERS", "SNAPGATE_BUILD_TIMEOUT", "SNAPGATE_MAX_BODY_BYTES", "SNAPGATE_SHUTDOWN_DELAY",
		"SNAPGATE_DEFAULT_DISK_BYTES", "SNAPGATE_SANDBOX_DISKS", "SNAPGATE_METRICS_INTERVAL", "SNAPGATE_METRICS_WINDOW"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestLoadNodeConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    NodeConfig // MemoryBytes 0: any positive value
		wantErr string
	}{
		{"address from a host listen", map[string]string{"SNAPGATE_LISTEN": "10.0.0.5:8080"},
			NodeConfig{Address: "http://10.0.0.5:8080", HeartbeatInterval: 5 * time.Second, HeartbeatTimeout: 30 * time.Second}, ""},
		{"wildcard listen: no address", map[string]string{"SNAPGATE_LISTEN": "0.0.0.0:8080"},
			NodeConfig{HeartbeatInterval: 5 * time.Second, HeartbeatTimeout: 30 * time.Second}, ""},
		{"everything set", map[string]string{"SNAPGATE_LISTEN": ":8080", "SNAPGATE_NODE_ADDRESS": "http://node-a:8080/",
			"SNAPGATE_NODE_VCPUS": "16", "SNAPGATE_NODE_MEMORY_BYTES": "1073741824",
			"SNAPGATE_HEARTBEAT_INTERVAL": "1s", "SNAPGATE_HEARTBEAT_TIMEOUT": "4s"},
			NodeConfig{Address: "http://node-a:8080", VCPUs: 16, MemoryBytes: 1 << 30, HeartbeatInterval: time.Second, HeartbeatTimeout: 4 * time.Second}, ""},
		{"timeout not above interval", map[string]string{"SNAPGATE_HEARTBEAT_INTERVAL": "5s", "SNAPGATE_HEARTBEAT_TIMEOUT": "5s"},
			NodeConfig{}, "SNAPGATE_HEARTBEAT_TIMEOUT"},
		{"bad address", map[string]string{"SNAPGATE_NODE_ADDRESS": "10.0.0.5:8080"}, NodeConfig{}, "SNAPGATE_NODE_ADDRESS"},
		{"bad vcpus", map[string]string{"SNAPGATE_NODE_VCPUS": "0"}, NodeConfig{}, "SNAPGATE_NODE_VCPUS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadConfig(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := c.Node
			if tt.want.VCPUs == 0 && got.VCPUs > 0 {
				got.VCPUs = 0
			}
			if got.MemoryBytes <= 0 {
				t.Errorf("MemoryBytes = %d, want > 0", got.MemoryBytes)
			}
			if tt.want.MemoryBytes == 0 {
				got.MemoryBytes = 0
			}
			// Sized from this host's pid_max: TestLoadConfigPidsBudget.
			got.Pids, got.SandboxPids = 0, 0
			if got != tt.want {
				t.Errorf("node config = %+v, want %+v", got, tt.want)
			}
		})
	}
}
