package store

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/snapgate/snapgate/core"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Statements that reach the log (slow ones; here every one) must not carry
// their parameters, and failed statements are the caller's to log.
func TestLogKeepsSecretsAndErrorsOut(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	s.db = s.db.Session(&gorm.Session{Logger: s.db.Logger.LogMode(logger.Info)})

	now := time.Now()
	reg := &core.Registry{ID: "r1", TenantID: "t1", Name: "private", URL: "ghcr.io", Password: "hunter2-secret", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateRegistry(t.Context(), reg); err != nil {
		t.Fatal(err)
	}
	dup := *reg
	dup.ID = "r2"
	if err := s.CreateRegistry(t.Context(), &dup); core.KindOf(err) != core.ErrAlreadyExists {
		t.Fatalf("duplicate CreateRegistry: %v, want ErrAlreadyExists", err)
	}
	out := buf.String()
	if !strings.Contains(out, "INSERT INTO") {
		t.Fatalf("log has no statements; the test does not exercise the logger:\n%s", out)
	}
	if strings.Contains(out, "hunter2-secret") {
		t.Errorf("log contains the registry password:\n%s", out)
	}
	if strings.Contains(out, "level=ERROR") {
		t.Errorf("log has an error line for a failure returned to the caller:\n%s", out)
	}
}
