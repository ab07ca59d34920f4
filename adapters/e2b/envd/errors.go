package envd

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// Kinds of this adapter's own failures, beside core's.
var (
	// errNotRunning: the sandbox is unknown, paused or stopped. E2B's
	// gateway answers 502 for every envd request then, whatever the
	// protocol; the SDKs turn that into "sandbox not running"/TimeoutError.
	errNotRunning = errors.New("sandbox not running")
	// errUnimplemented: a request snapgate cannot honour (PTYs).
	errUnimplemented = errors.New("unimplemented")
	// errDeadline: Connect-Timeout-Ms passed.
	errDeadline = errors.New("deadline exceeded")
)

// outcome is how one error kind is answered: the Connect code of the RPCs
// (connect-go sets the HTTP status of a unary error from it) and the HTTP
// status of /files and /health.
type outcome struct {
	code   connect.Code
	status int
}

// errorTable maps every error kind to envd's answers. The SDKs dispatch on
// them: not_found makes files.exists false and commands.kill false,
// already_exists makes files.makeDir false, 507 is NotEnoughSpaceError,
// 401/unauthenticated AuthenticationError, deadline_exceeded TimeoutError.
var errorTable = map[error]outcome{
	core.ErrInvalidArgument:    {connect.CodeInvalidArgument, http.StatusBadRequest},
	core.ErrNotFound:           {connect.CodeNotFound, http.StatusNotFound},
	core.ErrAlreadyExists:      {connect.CodeAlreadyExists, http.StatusConflict},
	core.ErrFailedPrecondition: {connect.CodeFailedPrecondition, http.StatusConflict},
	core.ErrResourceExhausted:  {connect.CodeResourceExhausted, http.StatusInsufficientStorage},
	core.ErrUnavailable:        {connect.CodeUnavailable, http.StatusServiceUnavailable},
	core.ErrUnauthenticated:    {connect.CodeUnauthenticated, http.StatusUnauthorized},
	core.ErrPermissionDenied:   {connect.CodePermissionDenied, http.StatusForbidden},
	errNotRunning:              {connect.CodeUnavailable, http.StatusBadGateway},
	errUnimplemented:           {connect.CodeUnimplemented, http.StatusNotImplemented},
	errDeadline:                {connect.CodeDeadlineExceeded, http.StatusGatewayTimeout},
	// The node holding the sandbox did not answer: what E2B's gateway
	// says of a sandbox it cannot reach.
	edge.ErrBadGateway: {connect.CodeUnavailable, http.StatusBadGateway},
	// connect-go answers an oversized message resource_exhausted.
	edge.ErrTooLarge: {connect.CodeResourceExhausted, http.StatusRequestEntityTooLarge},
	// An operation snapgate does not serve yet.
	edge.ErrNotServed: {connect.CodeUnimplemented, http.StatusNotImplemented},
}

var internal = outcome{connect.CodeInternal, http.StatusInternalServerError}

// outcomeOf answers err by its kind (core.KindOf: the outermost
// classified error's, so an adapter kind wrapping a core error as its
// log-only cause wins).
func outcomeOf(err error) outcome {
	if o, ok := errorTable[core.KindOf(err)]; ok {
		return o
	}
	return internal
}

// httpError is envd's (and E2B's gateway's) error body.
type httpError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
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

// rpcError is the Connect error an RPC answers for err, logged when it is
// the server's fault. connect-go's own errors (a message that does not
// decode, a bad Connect-Timeout-Ms) pass as they are.
func (a *API) rpcError(ctx context.Context, procedure string, err error) error {
	if err == nil {
		return nil
	}
	if ce := new(connect.Error); errors.As(err, &ce) {
		return ce
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		// The client left: nobody reads the answer, and nothing failed.
		return connect.NewError(connect.CodeCanceled, errors.New("the client went away"))
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && outcomeOf(err) == internal {
		err = deadlineError()
	}
	o := outcomeOf(err)
	if o == internal || o.code == connect.CodeUnavailable && o.status != http.StatusBadGateway {
		attrs := append(callOf(ctx).logAttrs(), "procedure", procedure, "err", err)
		a.log.ErrorContext(ctx, "envd call failed", attrs...)
	}
	return connect.NewError(o.code, errors.New(core.PublicMessage(err)))
}

func deadlineError() error {
	return newError(errDeadline, "the call ran longer than its timeout (Connect-Timeout-Ms)")
}

// fail is the error writer of everything that answers before or instead
// of a Connect handler: routing, auth and validation of every route, and
// /files and /health themselves. A sandbox that is not running is the
// gateway's plain 502 whatever the protocol; other RPC failures are
// written by connect-go's ErrorWriter in the protocol of the request (a
// unary JSON error, or a 200 whose end-stream message holds it).
func (a *API) fail(c *gin.Context, err error) {
	if errors.Is(ctx(c).Err(), context.DeadlineExceeded) && outcomeOf(err) == internal {
		err = deadlineError()
	}
	o := outcomeOf(err)
	if o == internal || o.code == connect.CodeUnavailable && o.status != http.StatusBadGateway || core.KindOf(err) == edge.ErrBadGateway {
		a.log.ErrorContext(ctx(c), "envd request failed", append(logAttrs(c), "err", err)...)
	}
	msg := core.PublicMessage(err)
	if o.status == http.StatusBadGateway || !isRPC(c) {
		c.AbortWithStatusJSON(o.status, httpError{Code: o.status, Message: msg})
		return
	}
	_ = a.errorWriter.Write(c.Writer, c.Request, connect.NewError(o.code, errors.New(msg)))
	c.Abort()
}
