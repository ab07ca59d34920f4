// Package edge is the HTTP plumbing every vendor adapter shares. Its
// Router mounts each adapter's API as a Vendor (routes, authentication,
// error writer) behind the same steps: vendor label, request id, panic
// recovery, body limit or stream deadlines, and cluster forwarding (a call
// is proxied to the node core says must answer it: Locator, Forward). A
// vendor may claim requests before they are routed by path
// (Vendor.Claims: a port proxy routed by Host or headers). It also
// validates requests against a bundled OpenAPI document (kin-openapi)
// and reads API keys. It knows no vendor's paths or shapes: adapters
// describe theirs and turn its errors (ErrTooLarge, ErrBadGateway) into
// their own bodies. Imports: core, gin, kin-openapi.
package edge

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

// Validator checks requests against a spec. Routes are resolved from gin's
// match, not by a second router: gin already decoded the path (including
// %2F inside names), and a route missing from the spec is caught when the
// adapter is mounted.
type Validator struct {
	spec   *openapi3.T
	routes map[string]*routers.Route // "METHOD /gin/:path"
}

// NewValidator returns a validator for spec.
//
// Requests are checked with kin-openapi's OpenAPI 3.0 schema rules even for
// a 3.1 document: its 3.1 path compiles a JSON Schema validator anew on
// every request (about 150 us of CPU per GET, most of the measured
// validation overhead), while the request schemas use nothing 3.0 lacks
// (specs_test checks that). Only the route's view of the document changes;
// the schemas are the same objects.
func NewValidator(spec *openapi3.T) *Validator {
	as30 := *spec
	as30.OpenAPI = "3.0.3"
	return &Validator{spec: &as30, routes: map[string]*routers.Route{}}
}

// Check validates the request of c, matched by gin to ginPath. The error is
// core.ErrInvalidArgument with a message naming every bad field.
func (v *Validator) Check(c *gin.Context, ginPath string) error {
	route := v.routes[c.Request.Method+" "+ginPath]
	if route == nil {
		return fmt.Errorf("no spec route registered for %s %s", c.Request.Method, ginPath)
	}
	params := make(map[string]string, len(c.Params))
	for _, p := range c.Params {
		params[p.Key] = p.Value
	}
	err := openapi3filter.ValidateRequest(c.Request.Context(), &openapi3filter.RequestValidationInput{
		Request: c.Request, PathParams: params, Route: route, Options: validationOptions,
	})
	ints, ierr := integerProblems(c.Request, route.Operation)
	if ierr != nil {
		return core.WithCause(core.ErrInvalidArgument, ierr, "cannot read the request body")
	}
	if err == nil && len(ints) == 0 {
		return nil
	}
	msgs := ints
	if err != nil {
		msgs = append([]string{Describe(err)}, ints...)
	} else {
		err = errors.New("integer out of range")
	}
	return core.WithCause(core.ErrInvalidArgument, err, "%s", strings.Join(msgs, "; "))
}

// NewRequestID returns a random request id.
func NewRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "req_" + hex.EncodeToString(b)
}

// APIKey returns the key a request presents: X-Api-Key in any casing, or
// an Authorization bearer token.
func APIKey(c *gin.Context) string {
	if key := c.GetHeader("X-Api-Key"); key != "" {
		return key
	}
	if h := c.GetHeader("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
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

// Add registers the spec operation for a gin route path (":name" params).
// It fails when the spec has no such operation, so every served route is
// covered by the spec.
func (v *Validator) Add(method, ginPath string) error {
	specPath := ginParam.ReplaceAllString(ginPath, "{$1}")
	item := v.spec.Paths.Find(specPath)
	if item == nil || item.GetOperation(method) == nil {
		return fmt.Errorf("%s %s is served but not in the spec", method, specPath)
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

// Describe turns kin-openapi's errors into one message naming every bad
// field, e.g. "body field \"name\": property \"name\" is missing".
func Describe(err error) string {
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
	if err == nil {
		return nil
	}
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

// RequestIDKey is the gin context key of the request id.
const RequestIDKey = "request_id"

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// AssignRequestID gives the request an id (the client's X-Request-Id when it
// is short and plain, else a new one) and echoes it in the response.
func AssignRequestID(c *gin.Context) {
	id := c.GetHeader("X-Request-Id")
	if !requestIDRE.MatchString(id) {
		id = NewRequestID()
	}
	c.Set(RequestIDKey, id)
	c.Header("X-Request-Id", id)
}

// RequestID returns the id AssignRequestID gave the request, or "".
func RequestID(c *gin.Context) string { return c.GetString(RequestIDKey) }
