package envd

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// Kinds of this adapter's own failures, beside core's.
var (
	// errNotRunning: the sandbox is unknown, paused or stopped. E2B's
	// gateway answers 502 for every envd request then, whatever the
	// protocol; the SDKs turn that into "sandbox not running"/TimeoutError.
	errNotRunning = errors.New("sandbox not running")
	// errUnimplemented: a method snapgate does not serve (PTYs).
	errUnimplemented = errors.New("unimplemented")
	// errDeadline: Connect-Timeout-Ms passed.
	errDeadline = errors.New("deadline exceeded")
)

// outcome is how one error kind is answered: the Connect code of the RPCs
// and the HTTP status of /files and /health.
type outcome struct {
	code   string
	status int
}

// errorTable maps every error kind to envd's answers. The SDKs dispatch on
// them: not_found makes files.exists false and commands.kill false,
// already_exists makes files.makeDir false, 507 is NotEnoughSpaceError,
// 401/unauthenticated AuthenticationError, deadline_exceeded TimeoutError.
var errorTable = map[error]outcome{
	core.ErrInvalidArgument:    {"invalid_argument", http.StatusBadRequest},
	core.ErrNotFound:           {"not_found", http.StatusNotFound},
	core.ErrAlreadyExists:      {"already_exists", http.StatusConflict},
	core.ErrFailedPrecondition: {"failed_precondition", http.StatusConflict},
	core.ErrResourceExhausted:  {"resource_exhausted", http.StatusInsufficientStorage},
	core.ErrUnavailable:        {"unavailable", http.StatusServiceUnavailable},
	core.ErrUnauthenticated:    {"unauthenticated", http.StatusUnauthorized},
	core.ErrPermissionDenied:   {"permission_denied", http.StatusForbidden},
	errNotRunning:              {"unavailable", http.StatusBadGateway},
	errUnimplemented:           {"unimplemented", http.StatusNotImplemented},
	errDeadline:                {"deadline_exceeded", http.StatusGatewayTimeout},
}

var internal = outcome{"internal", http.StatusInternalServerError}

// outcomeOf answers err by its kind (core.KindOf: the outermost
// classified error's, so an adapter kind wrapping a core error as its
// log-only cause wins).
func outcomeOf(err error) outcome {
	if o, ok := errorTable[core.KindOf(err)]; ok {
		return o
	}
	return internal
}

// connectStatus is the HTTP status of a unary Connect error (Connect
// protocol spec); clients read the code from the body.
var connectStatus = map[string]int{
	"invalid_argument": 400, "not_found": 404, "already_exists": 409, "failed_precondition": 400,
	"resource_exhausted": 429, "unavailable": 503, "unauthenticated": 401, "permission_denied": 403,
	"unimplemented": 501, "deadline_exceeded": 504, "internal": 500,
}

// httpError is envd's (and E2B's gateway's) error body.
type httpError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// connectError is a Connect error: the body of a unary error, and the
// "error" of an end-stream message.
type connectError struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

func newError(kind error, format string, args ...any) error {
	return &core.Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func notRunning(format string, args ...any) error {
	return newError(errNotRunning, format, args...)
}

// gatewayError turns a failure to open the sandbox into what E2B's gateway
// would answer: no live sandbox (not found, paused, stopped) is a 502.
func gatewayError(id string, err error) error {
	switch core.KindOf(err) {
	case core.ErrNotFound, core.ErrFailedPrecondition:
		return &core.Error{Kind: errNotRunning, Message: fmt.Sprintf("The sandbox %s is not running", id), Cause: err}
	}
	return err
}

// fail is the adapter's single error writer: every failure, from routing,
// auth, validation or core, leaves through here in the shape of the
// route's protocol.
func (a *API) fail(c *gin.Context, err error) {
	if errors.Is(ctx(c).Err(), context.DeadlineExceeded) && outcomeOf(err) == internal {
		err = newError(errDeadline, "the call took longer than its Connect-Timeout-Ms")
	}
	o := outcomeOf(err)
	if o == internal || o.code == "unavailable" && o.status != http.StatusBadGateway {
		a.log.ErrorContext(ctx(c), "envd request failed", append(logAttrs(c), "err", err)...)
	}
	msg := core.PublicMessage(err)
	switch {
	case o.status == http.StatusBadGateway || kindOf(c) == plainHTTP:
		c.AbortWithStatusJSON(o.status, httpError{Code: o.status, Message: msg})
	case kindOf(c) == unaryRPC:
		c.AbortWithStatusJSON(connectStatus[o.code], connectError{Code: o.code, Message: msg})
	default:
		// Streams carry errors in the end-stream message of a 200.
		newStream(c).end(connectError{Code: o.code, Message: msg})
		c.Abort()
	}
}

// rpcError is the Connect error a stream ends with.
func (a *API) rpcError(c *gin.Context, err error) connectError {
	o := outcomeOf(err)
	if o == internal || o.code == "unavailable" {
		a.log.ErrorContext(ctx(c), "envd stream failed", append(logAttrs(c), "err", err)...)
	}
	return connectError{Code: o.code, Message: core.PublicMessage(err)}
}
