package langsmith

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// The dataplane is what the SDKs reach through a box's dataplane_url
// (<base>/dataplane/<box id>): commands and files inside the box. The box
// may also be named instead of its id. Paths in the spec are written the
// same way, under /dataplane/{box}.
const dataplanePrefix = "/dataplane/:box"

// Operation tokens the SDKs turn into their operation error (see
// dataplaneTable).
const (
	opCommand = "CommandError"
	opRead    = "ReadError"
	opWrite   = "WriteError"
)

type dataplaneRoute struct {
	method, path string // path relative to dataplanePrefix
	op           string // operation token of the route's failures
	handler      gin.HandlerFunc
	// streamed bodies are hidden from validation, which would read them
	// into memory (see validateDataplane), and have no body limit.
	streamed bool
	// stream: a download, whose answer may rightly last.
	stream bool
}

func (a *API) dataplaneRoutes() []dataplaneRoute {
	return []dataplaneRoute{
		{"POST", "/execute", opCommand, a.execute, false, false},
		{"GET", "/execute/ws", opCommand, a.executeWS, false, false},
		{"GET", "/tunnel", "", a.tunnel, false, false},
		{"POST", "/upload", opWrite, a.upload, true, true},
		{"GET", "/download", opRead, a.download, false, true},
		{"HEAD", "/download", opRead, a.download, false, true},
		{"POST", "/glob", opRead, a.glob, false, false},
		{"POST", "/grep", opRead, a.grep, false, false},
	}
}

// mountDataplane mounts the dataplane, a vendor of its own (its errors
// have their own tokens), when the adapter has one.
func (a *API) mountDataplane(r *edge.Router) error {
	if a.dataplane == nil {
		return nil
	}
	v := edge.Vendor{
		Label: "langsmith-dataplane", Owns: []string{"/dataplane"},
		Authenticate: a.authenticate, WriteError: a.writeError,
	}
	for _, rt := range a.dataplaneRoutes() {
		path := dataplanePrefix + rt.path
		if a.validator != nil {
			if err := a.validator.Add(rt.method, path); err != nil {
				return fmt.Errorf("langsmith dataplane: %w", err)
			}
		}
		v.Routes = append(v.Routes, edge.Route{
			Method: rt.method, Path: path, Locate: edge.Param("box"), Upload: rt.streamed, Stream: rt.stream,
			Handlers: []gin.HandlerFunc{a.validateDataplane(path, rt), rt.handler},
		})
	}
	return r.Mount(v)
}

// validateDataplane is validate for a dataplane route: a bad request is the
// route's operation error (400), which the SDKs raise as such.
//
// A streamed body (an upload of any size) is not shown to the validator:
// kin-openapi reads the whole body into memory to check security
// requirements, even with no-op authentication, and again for a declared
// request body. Its parameters and headers are still checked.
func (a *API) validateDataplane(path string, rt dataplaneRoute) gin.HandlerFunc {
	if a.validator == nil {
		return func(*gin.Context) {}
	}
	return func(c *gin.Context) {
		req := c.Request
		if rt.streamed {
			hidden := req.Clone(req.Context())
			hidden.Body, hidden.GetBody, hidden.ContentLength = http.NoBody, nil, 0
			c.Request = hidden
		}
		err := a.validator.UndeclaredQuery(c, path)
		if err == nil {
			err = a.validator.Check(c, path)
		}
		c.Request = req
		if err != nil {
			a.writeError(c, dataplaneErr(rt.op, err))
		}
	}
}

// target authorizes the request's box for the caller: another tenant's box
// is not found; a stopped box is resumed by core.
func (a *API) target(c *gin.Context) (*core.Target, error) {
	t, err := a.dataplane.OpenForPrincipal(ctx(c), c.Param("box"))
	return t, dataplaneErr("", err)
}

// files opens the box's filesystem for a file operation. The caller closes it.
func (a *API) files(c *gin.Context, op string) (*core.Files, error) {
	t, err := a.target(c)
	if err != nil {
		return nil, err
	}
	f, err := a.dataplane.Files(ctx(c), t, boxUser)
	return f, dataplaneErr(op, err)
}
