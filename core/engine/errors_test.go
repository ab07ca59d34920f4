package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"

	"github.com/snapgate/snapgate/core"
)

// Errors that the integration tests cannot provoke on demand (full disk,
// rate limits, DNS) still get their kind and an actionable message.
func TestClassifyPull(t *testing.T) {
	t.Parallel()
	target := pullTarget{ref: "example.com/app:v1", host: "example.com"}
	reg := func(err error) error { return fmt.Errorf("failed to resolve reference: %w", &registryError{err}) }
	status := func(code int) error {
		return reg(remoteerrors.ErrUnexpectedStatus{StatusCode: code, Status: fmt.Sprint(code)})
	}
	tests := []struct {
		name string
		err  error
		auth bool
		kind error
		msg  string
	}{
		{"tag missing", reg(fmt.Errorf("x: %w", errdefs.ErrNotFound)), false, core.ErrNotFound, "not found in its registry: check docker_image"},
		{"401 anonymous", status(401), false, core.ErrPermissionDenied, "set registry_id"},
		{"403 with credentials", status(403), true, core.ErrPermissionDenied, "refused credentials for example.com/app:v1"},
		{"bad basic auth", reg(fmt.Errorf("%w: no basic auth credentials", docker.ErrInvalidAuthorization)), true, core.ErrPermissionDenied, "refused credentials"},
		{"rate limited", status(429), false, core.ErrResourceExhausted, "rate-limiting"},
		{"registry 503", status(503), false, core.ErrUnavailable, "try again later"},
		{"dns", reg(&net.DNSError{Err: "no such host", Name: "example.com", IsNotFound: true}), false, core.ErrUnavailable, "does not resolve"},
		{"refused", reg(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), false, core.ErrUnavailable, "connection refused"},
		{"http answer to https", reg(errors.New("http: server gave HTTP response to HTTPS client")), false, core.ErrUnavailable, "SNAPGATE_INSECURE_REGISTRIES"},
		{"tls record", reg(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), false, core.ErrUnavailable, "SNAPGATE_INSECURE_REGISTRIES"},
		{"tls alert", reg(tls.AlertError(40)), false, core.ErrUnavailable, "TLS handshake failed"},
		{"disk full locally", fmt.Errorf("write: %w", syscall.ENOSPC), false, core.ErrResourceExhausted, "no space left"},
		{"disk full via grpc", errors.New("commit failed: write /var/lib/x: no space left on device"), false, core.ErrResourceExhausted, "no space left"},
		{"deadline", fmt.Errorf("fetch: %w", context.DeadlineExceeded), false, core.ErrUnavailable, "interrupted"},
		{"schema 1", reg(fmt.Errorf("schema 1: %w", errdefs.ErrNotImplemented)), false, core.ErrInvalidArgument, "format"},
		{"no platform", fmt.Errorf("no match for platform in manifest: %w", errdefs.ErrNotFound), false, core.ErrNotFound, "platform"},
		{"containerd down", fmt.Errorf("rpc: %w", errdefs.ErrUnavailable), false, core.ErrUnavailable, "container engine is unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := target
			if tc.auth {
				tg.auth, tg.authHost = true, "example.com"
			}
			got := classifyPull(tc.err, tg)
			if !errors.Is(got, tc.kind) {
				t.Errorf("kind of %v = %v, want %v", got, core.KindOf(got), tc.kind)
			}
			if msg := core.PublicMessage(got); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not contain %q", msg, tc.msg)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("the raw error is not kept as the cause")
			}
		})
	}
}

func TestClassifyPullUnknownIsInternal(t *testing.T) {
	t.Parallel()
	err := classifyPull(errors.New("something odd"), pullTarget{ref: "a/b:c", host: "docker.io"})
	if core.KindOf(err) != nil {
		t.Errorf("kind = %v, want none (internal)", core.KindOf(err))
	}
}
