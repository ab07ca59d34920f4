package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"gorm.io/gorm"
)

func TestUnreachableClassification(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("query: %w", io.ErrUnexpectedEOF), true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{fmt.Errorf("failed to connect to `user=postgres`: %w", context.DeadlineExceeded), true},
		{gorm.ErrRecordNotFound, false},
		{gorm.ErrDuplicatedKey, false},
		{errors.New("ERROR: syntax error at or near (SQLSTATE 42601)"), false},
		{nil, false},
	} {
		if got := unreachable(tc.err); got != tc.want {
			t.Errorf("unreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestWithConnectTimeout(t *testing.T) {
	got := withConnectTimeout("postgres://u@h:5432/db?sslmode=disable")
	if !strings.Contains(got, "connect_timeout="+defaultConnectTimeout) || !strings.Contains(got, "sslmode=disable") {
		t.Errorf("default not added: %s", got)
	}
	if got := withConnectTimeout("postgres://u@h/db?connect_timeout=30"); !strings.Contains(got, "connect_timeout=30") || strings.Count(got, "connect_timeout") != 1 {
		t.Errorf("explicit timeout overridden: %s", got)
	}
}
