package adaptertest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
)

// ServeOption configures Serve.
type ServeOption func(*serveConfig)

type serveConfig struct {
	spec *openapi3.T
}

// ValidateResponses makes Serve check every response an adapter route
// writes against spec (openapi3filter.ValidateResponse, statuses included:
// a status the operation does not declare fails too), failing the test on
// the first drift. A route's operation is the spec path that is the
// longest segment-aligned suffix of its gin path, since adapters serve the
// spec's paths under extra prefixes (/api/v2/sandboxes for /v2/sandboxes).
// Responses of routes the router did not match (not-found) and upgraded
// connections are not checked.
func ValidateResponses(spec *openapi3.T) ServeOption {
	return func(c *serveConfig) { c.spec = spec }
}

// reporterKey marks a request whose drift fails another test than the
// server's (DoT).
type reporterKey struct{}

// maxValidatedBody bounds what a response check keeps of a body; a longer
// one (a file download) is checked without its body.
const maxValidatedBody = 4 << 20

var ginParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

func responseValidator(t testing.TB, spec *openapi3.T) gin.HandlerFunc {
	return func(c *gin.Context) {
		rec := &recorder{ResponseWriter: c.Writer}
		c.Writer = rec
		c.Next()
		// Unserved routes have no operation in the spec; their tests check
		// their answers. Passthrough routes relay another API (a box's own
		// service), which no vendor's spec describes.
		if c.FullPath() == "" || edge.IsUnserved(c) || edge.IsPassthrough(c) || rec.hijacked || rec.Status() == http.StatusSwitchingProtocols {
			return
		}
		if err := validateResponse(c, spec, rec); err != nil {
			report := t
			if r, ok := c.Request.Context().Value(reporterKey{}).(testing.TB); ok {
				report = r
			}
			report.Errorf("response %d of %s %s drifts from the spec: %v\nbody: %.2000s", rec.Status(), c.Request.Method, c.Request.URL.Path, err, rec.body.Bytes())
		}
	}
}

func validateResponse(c *gin.Context, spec *openapi3.T, rec *recorder) error {
	route, err := specRoute(spec, c.Request.Method, c.FullPath())
	if err != nil {
		return err
	}
	params := make(map[string]string, len(c.Params))
	for _, p := range c.Params {
		params[p.Key] = p.Value
	}
	// Only JSON bodies have schemas worth checking; a file's bytes do not.
	ct, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type"))
	json := ct == "application/json" || strings.HasSuffix(ct, "+json")
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: rec.overflow || !json}
	return openapi3filter.ValidateResponse(c.Request.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: c.Request, PathParams: params, Route: route, Options: opts},
		Status:                 rec.Status(),
		Header:                 rec.Header(),
		Body:                   io.NopCloser(bytes.NewReader(rec.body.Bytes())),
		Options:                opts,
	})
}

// specRoute finds the operation a gin route serves.
func specRoute(spec *openapi3.T, method, ginPath string) (*routers.Route, error) {
	path := ginParam.ReplaceAllString(ginPath, "{$1}")
	for {
		if item := spec.Paths.Find(path); item != nil && item.GetOperation(method) != nil {
			return &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: item.GetOperation(method)}, nil
		}
		i := strings.IndexByte(strings.TrimPrefix(path, "/"), '/')
		if i < 0 {
			return nil, fmt.Errorf("no spec operation for %s %s", method, ginPath)
		}
		path = path[i+1:]
	}
}

// recorder keeps a copy of what a handler writes.
type recorder struct {
	gin.ResponseWriter
	body     bytes.Buffer
	overflow bool
	hijacked bool
}

func (r *recorder) Write(b []byte) (int, error) {
	r.keep(b)
	return r.ResponseWriter.Write(b)
}

func (r *recorder) WriteString(s string) (int, error) {
	r.keep([]byte(s))
	return r.ResponseWriter.WriteString(s)
}

func (r *recorder) keep(b []byte) {
	if r.overflow || r.body.Len()+len(b) > maxValidatedBody {
		r.overflow = true
		return
	}
	r.body.Write(b)
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	r.hijacked = true
	return r.ResponseWriter.Hijack()
}
