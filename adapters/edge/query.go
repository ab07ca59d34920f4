package edge

import (
	"fmt"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// UndeclaredQuery refuses query parameters the operation of the route
// (matched by gin to ginPath) does not declare: kin-openapi lets them
// through, and a parameter snapgate does not know (a vendor's filter or
// sort order) would be dropped silently. ErrInvalidArgument naming them.
func (v *Validator) UndeclaredQuery(c *gin.Context, ginPath string) error {
	route := v.routes[c.Request.Method+" "+ginPath]
	if route == nil {
		return fmt.Errorf("no spec route registered for %s %s", c.Request.Method, ginPath)
	}
	if c.Request.URL.RawQuery == "" {
		return nil
	}
	var unknown []string
	for name := range c.Request.URL.Query() {
		if !declaresQuery(route.PathItem.Parameters, name) && !declaresQuery(route.Operation.Parameters, name) {
			unknown = append(unknown, fmt.Sprintf("%q", name))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return core.Errorf(core.ErrInvalidArgument, "query parameter %s is not supported by this server", strings.Join(unknown, ", "))
}

func declaresQuery(params openapi3.Parameters, name string) bool {
	return slices.ContainsFunc(params, func(p *openapi3.ParameterRef) bool {
		return p.Value != nil && p.Value.In == openapi3.ParameterInQuery && p.Value.Name == name
	})
}
