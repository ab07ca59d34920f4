package langsmith

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// errorBody is LangSmith's error shape. Its SDKs dispatch on the status and
// on detail.error, so the tokens below are contract.
type errorBody struct {
	Detail errorDetail `json:"detail"`
}

type errorDetail struct {
	Error   string `json:"error"`
	ErrorID string `json:"error_id,omitempty"`
	Message string `json:"message"`
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
}

var internalClass = errorClass{http.StatusInternalServerError, "InternalError"}

func classify(err error) errorClass {
	if c, ok := errorTable[core.KindOf(err)]; ok {
		return c
	}
	return internalClass
}

// writeError is the adapter's single error writer: every failure, from
// validation, auth or core, leaves through here.
func (a *API) writeError(c *gin.Context, err error) {
	cls := classify(err)
	rid := edge.RequestID(c)
	if cls.status >= 500 {
		a.log.ErrorContext(c.Request.Context(), "request failed", "request_id", rid, "status", cls.status, "err", err)
	}
	if cls.status == http.StatusTooManyRequests {
		c.Header("Retry-After", "0")
	}
	c.AbortWithStatusJSON(cls.status, errorBody{Detail: errorDetail{
		Error: cls.token, ErrorID: rid, Message: core.PublicMessage(err),
	}})
}

func (a *API) notFound(c *gin.Context) {
	a.writeError(c, core.Errorf(core.ErrNotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
}
