package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"

	"github.com/snapgate/snapgate/core"
)

// This file is the one place where containerd, registry and network errors
// become core error kinds. Messages are shown to API clients (a snapshot's
// status_message), so they name the image and the setting to check, never
// local paths; the raw error stays as the cause for logs.

// registryError marks an error that came from talking to the registry
// (resolving or fetching), as opposed to containerd itself: a NotFound from
// the registry is the client's bad docker_image, a NotFound from containerd
// is ours.
type registryError struct{ err error }

func (e *registryError) Error() string { return e.err.Error() }
func (e *registryError) Unwrap() error { return e.err }

// pullTarget is what a pull error message talks about.
type pullTarget struct {
	ref      string // normalized image reference
	host     string // registry host[:port] of ref
	auth     bool   // credentials were configured for the pull
	authHost string // the host those credentials are for
	insecure bool   // host is listed as plain HTTP
}

// classifyPull turns an error of Pull into a classified core error.
func classifyPull(err error, t pullTarget) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return core.WithCause(core.ErrUnavailable, err, "pulling %s was interrupted before it finished", t.ref)
	}
	if isDiskFull(err) {
		return core.WithCause(core.ErrResourceExhausted, err, "no space left on the server to store image %s", t.ref)
	}
	var re *registryError
	if errors.As(err, &re) {
		return classifyRegistry(err, t)
	}
	switch {
	case errdefs.IsNotImplemented(err):
		return core.WithCause(core.ErrInvalidArgument, err, "image %s has a format this server cannot unpack: check docker_image", t.ref)
	case errdefs.IsNotFound(err) && strings.Contains(err.Error(), "no match for platform"):
		return core.WithCause(core.ErrNotFound, err, "image %s has no variant for this server's platform: check docker_image", t.ref)
	}
	return classify(err, "pull "+t.ref)
}

// classifyRegistry handles errors raised while resolving or fetching.
func classifyRegistry(err error, t pullTarget) error {
	if status, ok := errors.AsType[remoteerrors.ErrUnexpectedStatus](err); ok {
		if kerr := classifyStatus(err, status.StatusCode, t); kerr != nil {
			return kerr
		}
	}
	if errors.Is(err, docker.ErrInvalidAuthorization) {
		return denied(err, t)
	}
	if errdefs.IsNotFound(err) {
		return core.WithCause(core.ErrNotFound, err, "image %s not found in its registry: check docker_image", t.ref)
	}
	if errdefs.IsNotImplemented(err) {
		return core.WithCause(core.ErrInvalidArgument, err, "image %s has a format this server cannot pull (for example Docker schema 1): check docker_image", t.ref)
	}
	if looksHTTPvsHTTPS(err) {
		return core.WithCause(core.ErrUnavailable, err, "registry %s is unreachable: %s", t.host, schemeHint(t))
	}
	if reason := networkReason(err); reason != "" {
		return core.WithCause(core.ErrUnavailable, err, "registry %s is unreachable: %s", t.host, reason)
	}
	return core.WithCause(core.ErrUnavailable, err, "pulling %s from registry %s failed: %s", t.ref, t.host, firstLine(err))
}

// classifyStatus maps an HTTP status from the registry; nil when the status
// says nothing more specific than the rest of the chain.
func classifyStatus(err error, code int, t pullTarget) error {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return denied(err, t)
	case code == http.StatusNotFound:
		return core.WithCause(core.ErrNotFound, err, "image %s not found in its registry: check docker_image", t.ref)
	case code == http.StatusTooManyRequests:
		return core.WithCause(core.ErrResourceExhausted, err, "registry %s is rate-limiting pulls of %s: try again later or use registry_id with an account", t.host, t.ref)
	case code == http.StatusBadRequest && t.insecure:
		// An HTTPS registry answers a plain-HTTP request with 400.
		return core.WithCause(core.ErrUnavailable, err, "registry %s is unreachable: %s", t.host, schemeHint(t))
	case code >= 500:
		return core.WithCause(core.ErrUnavailable, err, "registry %s failed with HTTP %d while pulling %s: try again later", t.host, code, t.ref)
	}
	return nil
}

// classifyPush turns an error of PushImage (of image name to t.ref) into a
// classified core error.
func classifyPush(err error, t pullTarget, name string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return core.WithCause(core.ErrUnavailable, err, "pushing %s was interrupted before it finished", t.ref)
	}
	var re *registryError
	if !errors.As(err, &re) {
		if errdefs.IsNotFound(err) {
			return core.WithCause(core.ErrNotFound, err, "image %s is incomplete on this server (a blob is missing), so it cannot be pushed", name)
		}
		return classify(err, "push "+name)
	}
	code := 0
	if status, ok := errors.AsType[remoteerrors.ErrUnexpectedStatus](err); ok {
		code = status.StatusCode
	}
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden || errors.Is(err, docker.ErrInvalidAuthorization):
		if !t.auth {
			return core.WithCause(core.ErrPermissionDenied, err, "registry %s refused the push to %s: it needs credentials", t.host, t.ref)
		}
		return core.WithCause(core.ErrPermissionDenied, err, "registry %s refused the push to %s: check the username and password, and that the account may push to that repository", t.host, t.ref)
	case code == http.StatusNotFound || (code == 0 && errdefs.IsNotFound(err)):
		return core.WithCause(core.ErrNotFound, err, "registry %s has no repository for %s and did not create it: create the repository (or its project) first", t.host, t.ref)
	case code == http.StatusTooManyRequests:
		return core.WithCause(core.ErrResourceExhausted, err, "registry %s is rate-limiting pushes: try again later", t.host)
	case code == http.StatusBadRequest && t.insecure:
		return core.WithCause(core.ErrUnavailable, err, "registry %s is unreachable: %s", t.host, schemeHint(t))
	case code >= 500:
		return core.WithCause(core.ErrUnavailable, err, "registry %s failed with HTTP %d while receiving %s: try again later", t.host, code, t.ref)
	case looksHTTPvsHTTPS(err):
		return core.WithCause(core.ErrUnavailable, err, "registry %s is unreachable: %s", t.host, schemeHint(t))
	}
	if reason := networkReason(err); reason != "" {
		return core.WithCause(core.ErrUnavailable, err, "registry %s is unreachable: %s", t.host, reason)
	}
	return core.WithCause(core.ErrUnavailable, err, "pushing %s to registry %s failed: %s", t.ref, t.host, firstLine(err))
}

func denied(err error, t pullTarget) error {
	switch {
	case !t.auth:
		return core.WithCause(core.ErrPermissionDenied, err,
			"registry %s refused access to %s: the image does not exist or needs credentials: check docker_image, or set registry_id", t.host, t.ref)
	case !sameHost(t.authHost, t.host):
		return core.WithCause(core.ErrPermissionDenied, err,
			"registry %s refused access to %s: the credentials of registry_id are for %s, not %s: check registry_id", t.host, t.ref, t.authHost, t.host)
	}
	return core.WithCause(core.ErrPermissionDenied, err,
		"registry refused credentials for %s: check registry_id / the registry's username and password", t.ref)
}

func schemeHint(t pullTarget) string {
	if t.insecure {
		return "it is configured as a plain-HTTP registry but answers HTTPS (remove it from SNAPGATE_INSECURE_REGISTRIES)"
	}
	return "it does not speak HTTPS; if it is a plain-HTTP registry, add " + t.host + " to SNAPGATE_INSECURE_REGISTRIES"
}

// looksHTTPvsHTTPS reports an HTTPS request answered in plain HTTP. net/http
// reports it only as text (its error value is unexported).
func looksHTTPvsHTTPS(err error) bool {
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return true
	}
	var rh tls.RecordHeaderError
	return errors.As(err, &rh)
}

// networkReason names a connection-level failure, or "" when err is not one.
func networkReason(err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var alert tls.AlertError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return "its host name does not resolve"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &hostnameErr):
		return "its TLS certificate is not trusted"
	case errors.As(err, &alert), strings.Contains(err.Error(), "tls: "):
		return "TLS handshake failed"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "connection timed out"
	case errors.As(err, new(*net.OpError)):
		return "network error"
	}
	return ""
}

func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errdefs.IsResourceExhausted(err) ||
		strings.Contains(err.Error(), "no space left on device")
}

// classify maps containerd errdefs classes for engine calls other than the
// registry part of a pull. op names the call for the message.
func classify(err error, op string) error {
	if err == nil {
		return nil
	}
	switch {
	case errdefs.IsNotFound(err):
		return core.WithCause(core.ErrNotFound, err, "%s: not found", op)
	case errdefs.IsAlreadyExists(err):
		return core.WithCause(core.ErrAlreadyExists, err, "%s: already exists", op)
	case errdefs.IsInvalidArgument(err):
		return core.WithCause(core.ErrInvalidArgument, err, "%s: invalid argument", op)
	case errdefs.IsFailedPrecondition(err), errdefs.IsConflict(err):
		return core.WithCause(core.ErrFailedPrecondition, err, "%s: the engine is not in a state to do it", op)
	case isDiskFull(err):
		return core.WithCause(core.ErrResourceExhausted, err, "%s: no space left on the server", op)
	case errdefs.IsUnavailable(err), errdefs.IsCanceled(err), errdefs.IsDeadlineExceeded(err),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return core.WithCause(core.ErrUnavailable, err, "%s: the container engine is unavailable", op)
	}
	return fmt.Errorf("engine: %s: %w", op, err)
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
