package e2b

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/e2b/api"
	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// errorTable maps each core error kind to E2B's status. The SDKs special
// case 401 (AuthenticationError), 404, 409 (pause), 429 (RateLimitError)
// and 503 (ServiceBusyError); the rest become SandboxError "<status>: <msg>".
var errorTable = map[error]int{
	core.ErrInvalidArgument:    http.StatusBadRequest,
	core.ErrUnauthenticated:    http.StatusUnauthorized,
	core.ErrPermissionDenied:   http.StatusForbidden,
	core.ErrNotFound:           http.StatusNotFound,
	core.ErrAlreadyExists:      http.StatusConflict,
	core.ErrFailedPrecondition: http.StatusConflict,
	core.ErrResourceExhausted:  http.StatusTooManyRequests,
	core.ErrUnavailable:        http.StatusServiceUnavailable,
	edge.ErrTooLarge:           http.StatusRequestEntityTooLarge,
	edge.ErrBadGateway:         http.StatusBadGateway,
	edge.ErrNotServed:          http.StatusNotImplemented,
}

func status(err error) int {
	if s, ok := errorTable[core.KindOf(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// writeError is the adapter's single error writer: every failure, from
// validation, auth, the edge or core, leaves through here; a create that
// core placed on another node is sent there instead.
func (a *API) writeError(c *gin.Context, err error) {
	if edge.Forward(c, err) {
		return
	}
	st := status(err)
	if st >= 500 && st != http.StatusNotImplemented {
		a.log.ErrorContext(c.Request.Context(), "request failed", "request_id", edge.RequestID(c), "status", st, "err", err)
	}
	// No Retry-After on 429: the JS SDK would retry it, and a quota does
	// not clear in seconds.
	// api.Error is E2B's error shape. Both keys are contract: the JS SDK
	// decides not-found (kill -> false, getInfo -> SandboxNotFoundError)
	// and already-paused (pause -> false) by body code, and Python's
	// generated parser fails when either key is missing.
	c.AbortWithStatusJSON(st, api.Error{Code: int32(st), Message: core.PublicMessage(err)})
}
