package envd

import (
	"encoding/json"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// messageSchemas finds, for each streaming operation, the schema of its
// request message (extension x-envd-message). kin-openapi cannot decode a
// Connect envelope, so the validator only checks headers there and the
// handler checks the decoded message against this schema.
func messageSchemas(spec *openapi3.T) (map[string]*openapi3.SchemaRef, error) {
	out := map[string]*openapi3.SchemaRef{}
	for path, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			name, ok := op.Extensions["x-envd-message"].(string)
			if !ok {
				continue
			}
			s := spec.Components.Schemas[name]
			if s == nil {
				return nil, fmt.Errorf("envd: %s: x-envd-message %q is not a schema", path, name)
			}
			out[path] = s
		}
	}
	return out, nil
}

// checkMessage validates a streaming call's decoded request message with
// the same (OpenAPI 3.0) rules the validator applies to unary bodies.
func (a *API) checkMessage(c *gin.Context, raw []byte) error {
	if !a.validate {
		return nil
	}
	schema := a.messages[c.FullPath()]
	if schema == nil {
		return fmt.Errorf("envd: no message schema for %s", c.FullPath())
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return core.WithCause(core.ErrInvalidArgument, err, "request body: the message is not JSON")
	}
	if err := schema.Value.VisitJSON(v, openapi3.VisitAsRequest(), openapi3.MultiErrors()); err != nil {
		// Described like a body error of the validator, field by field.
		re := &openapi3filter.RequestError{RequestBody: &openapi3.RequestBody{}, Err: err}
		return core.WithCause(core.ErrInvalidArgument, err, "%s", edge.Describe(re))
	}
	return nil
}
