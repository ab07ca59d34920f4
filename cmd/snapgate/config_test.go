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
		c.BuildWorkers != 4 || c.BuildTimeout != 15*time.Minute || c.MaxBodyBytes != 1<<20 || c.NodeName == "" || c.ShutdownDelay != 0 || c.InitBinary != "" {
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
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://u@h/db" || strings.Join(c.InsecureRegistries, ",") != "127.0.0.1:5000,reg:80" || c.BuildTimeout != 30*time.Second ||
		c.ShutdownDelay != 5*time.Second || c.InitBinary != "/var/lib/snapgate/bin/busybox" {
		t.Errorf("read: %+v", c)
	}
	_, err = LoadConfig(env(map[string]string{
		"SNAPGATE_LISTEN": "nope", "SNAPGATE_INSECURE_REGISTRIES": "no-port",
		"SNAPGATE_BUILD_WORKERS": "0", "SNAPGATE_BUILD_TIMEOUT": "soon", "SNAPGATE_MAX_BODY_BYTES": "12",
		"SNAPGATE_SHUTDOWN_DELAY": "-1s",
	}))
	for _, want := range []string{"SNAPGATE_LISTEN", "SNAPGATE_INSECURE_REGISTRIES", "SNAPGATE_BUILD_WORKERS", "SNAPGATE_BUILD_TIMEOUT", "SNAPGATE_MAX_BODY_BYTES", "SNAPGATE_SHUTDOWN_DELAY"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
