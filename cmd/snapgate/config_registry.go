package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/snapgate/snapgate/core"
)

// loadSnapshotRegistry reads SNAPGATE_SNAPSHOT_REGISTRY and its
// credentials; nil when no registry is set (a single node). The password
// comes from SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD or, for a mounted
// Kubernetes Secret, from the file SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD_FILE
// names (one trailing newline is dropped).
func loadSnapshotRegistry(getenv func(string) string) (*core.SnapshotRegistry, error) {
	repo := strings.TrimSpace(getenv("SNAPGATE_SNAPSHOT_REGISTRY"))
	user := strings.TrimSpace(getenv("SNAPGATE_SNAPSHOT_REGISTRY_USERNAME"))
	pass, file := getenv("SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD"), strings.TrimSpace(getenv("SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD_FILE"))
	if repo == "" {
		if user != "" || pass != "" || file != "" {
			return nil, errors.New("SNAPGATE_SNAPSHOT_REGISTRY_USERNAME and _PASSWORD need SNAPGATE_SNAPSHOT_REGISTRY")
		}
		return nil, nil
	}
	if pass != "" && file != "" {
		return nil, errors.New("set SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD or SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD_FILE, not both")
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD_FILE: %w", err)
		}
		pass = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	reg, err := core.NewSnapshotRegistry(repo, user, pass)
	if err != nil {
		return nil, fmt.Errorf("SNAPGATE_SNAPSHOT_REGISTRY: %s", core.PublicMessage(err))
	}
	return reg, nil
}
