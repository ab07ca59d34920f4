package langsmith

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

// errorBody is LangSmith's error shape. Its SDKs dispatch on the status and
// on detail.error, so the tokens below are contract.
func errorBody(token, requestID, message string) api.SandboxesErrorResponse {
	return api.SandboxesErrorResponse{Detail: api.SandboxesErrorDetail{Error: token, ErrorId: opt(requestID), Message: message}}
}

type errorClass struct {
	status int
	token  string
}

// errorTable maps each core error kind to LangSmith's status and token.
// 422 is what the SDKs turn into their typed validation error; missing or
// unknown keys are 403 as the hosted service answers.
var errorTable = map[error]errorClass{
	core.ErrInvalidArgument:    {http.StatusUnprocessableEntity, "ValidationError"},
	core.ErrNotFound:           {http.StatusNotFound, "NotFound"},
	core.ErrAlreadyExists:      {http.StatusConflict, "Conflict"},
	core.ErrFailedPrecondition: {http.StatusConflict, "InvalidState"},
	core.ErrResourceExhausted:  {http.StatusTooManyRequests, "QuotaExceeded"},
	core.ErrUnavailable:        {http.StatusServiceUnavailable, "ServiceUnavailable"},
	core.ErrUnauthenticated:    {http.StatusForbidden, "Forbidden"},
	core.ErrPermissionDenied:   {http.StatusForbidden, "Forbidden"},
	edge.ErrTooLarge:           {http.StatusRequestEntityTooLarge, "PayloadTooLarge"},
	edge.ErrBadGateway:         {http.StatusBadGateway, "BadGateway"},
	edge.ErrNotServed:          {http.StatusNotImplemented, "NotImplemented"},
}

var internalClass = errorClass{http.StatusInternalServerError, "InternalError"}

// Placeholders in dataplaneTable, filled in per call by classify.
const (
	tokOp      = "$op"      // the call's operation token (WriteError, ReadError, CommandError)
	tokMissing = "$missing" // FileNotFound for a file call, NotFound for the box lookup
)

// dataplaneTable answers dataplane calls (errors wrapped by dataplaneError).
// The SDKs' dataplane handlers dispatch on other tokens than the control
// plane's: WriteError/ReadError/CommandError become their operation error
// whatever the status, 400+NotReady their not-ready error (a stopped or
// paused box), 404 or FileNotFound a missing file, any 403 a permission error.
var dataplaneTable = map[error]errorClass{
	core.ErrInvalidArgument:    {http.StatusBadRequest, tokOp},
	core.ErrNotFound:           {http.StatusNotFound, tokMissing},
	core.ErrAlreadyExists:      {http.StatusConflict, tokOp},
	core.ErrFailedPrecondition: {http.StatusBadRequest, "NotReady"},
	core.ErrResourceExhausted:  {http.StatusInsufficientStorage, tokOp},
	core.ErrUnavailable:        {http.StatusServiceUnavailable, "ServiceUnavailable"},
	core.ErrUnauthenticated:    {http.StatusForbidden, "PermissionDenied"},
	core.ErrPermissionDenied:   {http.StatusForbidden, "PermissionDenied"},
	nil:                        {http.StatusInternalServerError, tokOp},
	errCommandTimeout:          {http.StatusRequestTimeout, tokOp},
	edge.ErrNotServed:          {http.StatusNotImplemented, "NotImplemented"},
}

// errCommandTimeout is the kind of a command killed at its timeout. Over
// HTTP the SDKs have no timeout token (only their WebSocket path raises a
// command-timeout error), so it is their command error; 408 is a status no
// SDK retries.
var errCommandTimeout = errors.New("command timed out")

// dataplaneError marks an error of a dataplane call with the call's
// operation token ("" for the box lookup every call starts with).
type dataplaneError struct {
	op  string
	err error
}

func (e *dataplaneError) Error() string { return e.err.Error() }
func (e *dataplaneError) Unwrap() error { return e.err }

// dataplaneErr wraps err (nil stays nil) for dataplaneTable.
func dataplaneErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &dataplaneError{op: op, err: err}
}

func classify(err error) errorClass {
	kind := core.KindOf(err)
	if errors.Is(err, errCommandTimeout) {
		kind = errCommandTimeout
	}
	var de *dataplaneError
	if !errors.As(err, &de) {
		if c, ok := errorTable[kind]; ok {
			return c
		}
		return internalClass
	}
	c := dataplaneTable[kind]
	switch {
	case c.token == tokMissing && de.op == "":
		c.token = "NotFound"
	case c.token == tokMissing:
		c.token = "FileNotFound"
	case c.token == tokOp && de.op == "":
		c.token = classify(de.err).token
	case c.token == tokOp:
		c.token = de.op
	}
	return c
}

// writeError is the adapter's single error writer: every failure, from
// validation, auth, the edge or core, leaves through here; a create that
// core placed on another node is sent there instead.
func (a *API) writeError(c *gin.Context, err error) {
	if edge.Forward(c, err) {
		return
	}
	cls := classify(err)
	rid := edge.RequestID(c)
	if cls.status >= 500 && cls.status != http.StatusNotImplemented {
		a.log.ErrorContext(c.Request.Context(), "request failed", "request_id", rid, "status", cls.status, "err", err)
	}
	if cls.status == http.StatusTooManyRequests {
		c.Header("Retry-After", "0")
	}
	c.AbortWithStatusJSON(cls.status, errorBody(cls.token, rid, core.PublicMessage(err)))
}

// wsErrorTypes is the error_type of a WebSocket error frame by kind. The
// SDKs raise CommandTimeout as their command-timeout error and any other
// type (CommandError by default) as their operation error.
var wsErrorTypes = map[error]string{
	core.ErrNotFound:  "CommandNotFound", // an unknown or expired command_id
	errCommandTimeout: "CommandTimeout",
}

func wsErrorType(err error) string {
	if errors.Is(err, errCommandTimeout) {
		return wsErrorTypes[errCommandTimeout]
	}
	if t, ok := wsErrorTypes[core.KindOf(err)]; ok {
		return t
	}
	return opCommand
}
