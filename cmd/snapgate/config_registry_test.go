package main

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConfigSnapshotRegistry(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(secret, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := []struct {
		name       string
		env        map[string]string
		repo, user string
		pass       string
	}{
		{"unset: single node", nil, "", "", ""},
		{"anonymous", map[string]string{"SNAPGATE_SNAPSHOT_REGISTRY": "127.0.0.1:5000/snaps"}, "127.0.0.1:5000/snaps", "", ""},
		{"password", map[string]string{
			"SNAPGATE_SNAPSHOT_REGISTRY": "registry.example.com/snapgate/", "SNAPGATE_SNAPSHOT_REGISTRY_USERNAME": "robot",
			"SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD": "pw",
		}, "registry.example.com/snapgate", "robot", "pw"},
		{"password file", map[string]string{
			"SNAPGATE_SNAPSHOT_REGISTRY": "registry.example.com/snapgate", "SNAPGATE_SNAPSHOT_REGISTRY_USERNAME": "robot",
			"SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD_FILE": secret,
		}, "registry.example.com/snapgate", "robot", "from-file"},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			// Nodes sharing a registry share a database: they need a key.
			e := map[string]string{"SNAPGATE_SECRET_KEY": testSecretKey}
			maps.Copy(e, tc.env)
			c, err := LoadConfig(env(e))
			if err != nil {
				t.Fatal(err)
			}
			r := c.SnapshotRegistry
			if tc.repo == "" {
				if r != nil {
					t.Errorf("SnapshotRegistry = %+v, want nil", r)
				}
				return
			}
			if r == nil || r.Repository != tc.repo || r.Username != tc.user || r.Password != tc.pass {
				t.Errorf("SnapshotRegistry = %+v, want %s as %q/%q", r, tc.repo, tc.user, tc.pass)
			}
		})
	}
	bad := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no host", map[string]string{"SNAPGATE_SNAPSHOT_REGISTRY": "snapgate"}, "registry host"},
		{"credentials without registry", map[string]string{"SNAPGATE_SNAPSHOT_REGISTRY_USERNAME": "robot"}, "need SNAPGATE_SNAPSHOT_REGISTRY"},
		{"both passwords", map[string]string{
			"SNAPGATE_SNAPSHOT_REGISTRY": "reg.example.com/x", "SNAPGATE_SNAPSHOT_REGISTRY_USERNAME": "robot",
			"SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD": "pw", "SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD_FILE": secret,
		}, "not both"},
		{"missing password file", map[string]string{
			"SNAPGATE_SNAPSHOT_REGISTRY": "reg.example.com/x", "SNAPGATE_SNAPSHOT_REGISTRY_USERNAME": "robot",
			"SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD_FILE": filepath.Join(t.TempDir(), "none"),
		}, "SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD_FILE"},
		{"password without username", map[string]string{
			"SNAPGATE_SNAPSHOT_REGISTRY": "reg.example.com/x", "SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD": "pw",
		}, "username"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadConfig = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
