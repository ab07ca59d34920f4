// Package testenv finds the real services integration tests run against:
// containerd (reached through deploy/containerd.sh) and the local Postgres.
// Without them tests skip locally and fail when CI (or the matching
// SNAPGATE_REQUIRE_* variable) is set. Test-only; imports the stdlib and pgx.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

var (
	ctrOnce    sync.Once
	ctrAddress string
	ctrErr     error
)

// Containerd returns the address of a reachable containerd:
// SNAPGATE_CONTAINERD_ADDRESS, or what `deploy/containerd.sh up
// <repo>/.snapgate-test` finds or starts.
func Containerd(t testing.TB) string {
	t.Helper()
	if _, err := FindContainerd(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("containerd is required in CI: %v", ctrErr)
		}
		t.Skipf("no containerd: %v", ctrErr)
	}
	return ctrAddress
}

// FindContainerd is Containerd for a TestMain: the address, or why there is
// none. It looks once per process.
func FindContainerd() (string, error) {
	ctrOnce.Do(func() { ctrAddress, ctrErr = findContainerd() })
	return ctrAddress, ctrErr
}

func findContainerd() (string, error) {
	if a := os.Getenv("SNAPGATE_CONTAINERD_ADDRESS"); a != "" {
		return a, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "deploy", "containerd.sh"), "up", filepath.Join(root, ".snapgate-test"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("deploy/containerd.sh up: %w: %s", err, stderr.String())
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return "", fmt.Errorf("deploy/containerd.sh up printed no address: %s", stderr.String())
	}
	return fields[len(fields)-1], nil
}

// RepoRoot walks up from the working directory to go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// PostgresURL is the server tests use: the machine's Postgres, trust auth.
const PostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Postgres creates a fresh database for the test, dropped at cleanup, and
// returns its URL.
func Postgres(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("pgx", PostgresURL)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("SNAPGATE_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("postgres at %s is required: %v", PostgresURL, err)
		}
		t.Skipf("no postgres at %s: %v", PostgresURL, err)
	}
	name := "sg_test_" + RandomSuffix()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	return strings.Replace(PostgresURL, "/test?", "/"+name+"?", 1)
}

// RandomSuffix returns 8 random hex digits for unique names.
func RandomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ReleaseDisks unmounts the sandbox disks whose images lie under dataDir
// (deploy/disks.sh), so a test that removes a stopped server's containers
// itself can remove their snapshots too.
func ReleaseDisks(t testing.TB, dataDir string) {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Errorf("release disks: %v", err)
		return
	}
	if out, err := exec.Command(filepath.Join(root, "deploy", "disks.sh"), "release", dataDir).CombinedOutput(); err != nil {
		t.Errorf("release disks under %s: %v: %s", dataDir, err, out)
	}
}
