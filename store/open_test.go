package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/snapgate/snapgate/store"
)

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dsn  string
	}{
		{"empty dsn", ""},
		{"sqlite in a missing directory", filepath.Join(t.TempDir(), "missing", "dir", "db")},
		// Nothing listens on port 1; Open must fail, and within ctx's deadline.
		{"unreachable postgres", "postgres://postgres@127.0.0.1:1/test?sslmode=disable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			st, err := store.Open(ctx, tt.dsn, nil)
			if err == nil {
				_ = st.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tt.dsn)
			}
			if ctx.Err() != nil {
				t.Errorf("Open(%q) returned only after its context expired: %v", tt.dsn, err)
			}
		})
	}
}
