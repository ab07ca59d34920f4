package edge

import (
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// Bind decodes a request's JSON body into v, an operation's generated
// request type; with optional, an absent body leaves v as it is.
// Validation has already checked the body's shape; this still refuses what
// cannot be decoded when validation is off, and it refuses fields the spec
// does not define, naming them: an option snapgate does not know is
// refused, never dropped. ErrInvalidArgument.
func Bind(c *gin.Context, v any, optional bool) error {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	switch {
	case err == nil, optional && errors.Is(err, io.EOF):
		return nil
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return core.WithCause(core.ErrInvalidArgument, err, "field %s is not supported by this server", field)
	}
	return core.WithCause(core.ErrInvalidArgument, err, "request body is not valid JSON for this operation: %v", err)
}
