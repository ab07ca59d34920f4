package e2b

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// This file is a copy of adapters/langsmith/validate.go (validator,
// describe, flatten, schemaProblems) with only the route key and the on/off switch changed; both
// belong in one shared package once the adapters settle.

// validator checks requests against the bundled spec. Routes are resolved
// from gin's match, not by a second router: gin already decoded the path
// (including %2F inside names), and a route missing from the spec is caught
// when the adapter is mounted.
type validator struct {
	spec   *openapi3.T
	routes map[string]*routers.Route // "METHOD /gin/:path"
}

// atLine matches one problem in a 3.1 (JSON Schema) reason:
// "at '/fs_capacity_bytes': got string, want integer".
var atLine = regexp.MustCompile(`at '([^']*)': (.*)`)

// missingProp names the property in "missing property 'name'" (or several).
var missingProp = regexp.MustCompile(`missing propert(?:y|ies) (.*)`)

// schemaProblems renders every problem in a schema error with the field it
// is about: 3.0 errors carry a JSON pointer, 3.1 errors list
// "at '<pointer>': <problem>" lines in their reason.
func schemaProblems(where string, se *openapi3.SchemaError) []string {
	var out []string
	for _, m := range atLine.FindAllStringSubmatch(se.Reason, -1) {
		field := strings.TrimPrefix(strings.ReplaceAll(m[1], "/", "."), ".")
		problem := m[2]
		if mp := missingProp.FindStringSubmatch(problem); mp != nil && field == "" {
			out = append(out, fmt.Sprintf("%s: required field %s is missing", where, strings.ReplaceAll(mp[1], "'", "\"")))
			continue
		}
		if field == "" {
			out = append(out, fmt.Sprintf("%s: %s", where, problem))
		} else {
			out = append(out, fmt.Sprintf("%s field %q: %s", where, field, problem))
		}
	}
	if len(out) > 0 {
		return out
	}
	if field := strings.Join(se.JSONPointer(), "."); field != "" {
		return []string{fmt.Sprintf("%s field %q: %s", where, field, se.Reason)}
	}
	return []string{fmt.Sprintf("%s: %s", where, se.Reason)}
}

var ginParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// add registers the spec operation for a gin route path.
func (v *validator) add(method, ginPath string) error {
	specPath := ginParam.ReplaceAllString(ginPath, "{$1}")
	item := v.spec.Paths.Find(specPath)
	if item == nil || item.GetOperation(method) == nil {
		return fmt.Errorf("e2b: %s %s is served but not in the spec", method, specPath)
	}
	if v.routes == nil {
		v.routes = map[string]*routers.Route{}
	}
	v.routes[method+" "+ginPath] = &routers.Route{
		Spec: v.spec, Path: specPath, PathItem: item, Method: method, Operation: item.GetOperation(method),
	}
	return nil
}

var validationOptions = &openapi3filter.Options{
	// Keys are checked by the authenticate middleware before validation.
	AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
	MultiError:         true,
}

// validateRoute returns the middleware for one route (its gin path).
func (a *API) validateRoute(path string) gin.HandlerFunc {
	if !a.validate {
		return func(*gin.Context) {}
	}
	return func(c *gin.Context) {
		route := a.validator.routes[c.Request.Method+" "+path]
		params := make(map[string]string, len(c.Params))
		for _, p := range c.Params {
			params[p.Key] = p.Value
		}
		err := openapi3filter.ValidateRequest(ctx(c), &openapi3filter.RequestValidationInput{
			Request: c.Request, PathParams: params, Route: route, Options: validationOptions,
		})
		if err != nil {
			a.writeError(c, core.WithCause(core.ErrInvalidArgument, err, "%s", describe(err)))
		}
	}
}

// describe turns kin-openapi's errors into one message naming every bad
// field, e.g. "body field \"name\": property \"name\" is missing".
func describe(err error) string {
	var msgs []string
	for _, e := range flatten(err) {
		msgs = append(msgs, describeOne(e))
	}
	if len(msgs) == 0 {
		return "invalid request"
	}
	return strings.Join(msgs, "; ")
}

// flatten expands multi-errors at this level only, so a RequestError keeps
// the parameter or body it is about.
func flatten(err error) []error {
	if me, ok := err.(openapi3.MultiError); ok {
		var out []error
		for _, e := range me {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func describeOne(err error) string {
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return err.Error()
	}
	var where string
	switch {
	case re.Parameter != nil:
		where = fmt.Sprintf("%s parameter %q", re.Parameter.In, re.Parameter.Name)
	case re.RequestBody != nil:
		where = "request body"
	default:
		where = "request"
	}
	causes := flatten(re.Err)
	var parts []string
	for _, cause := range causes {
		var se *openapi3.SchemaError
		switch {
		case errors.As(cause, &se):
			parts = append(parts, schemaProblems(where, se)...)
		case cause != nil:
			parts = append(parts, fmt.Sprintf("%s: %s", where, cause.Error()))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%s: %s", where, re.Reason)
	}
	return strings.Join(parts, "; ")
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "req_" + hex.EncodeToString(b)
}
