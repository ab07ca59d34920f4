package edge

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// Kinds of the edge's own failures, beside core's. Every vendor's error
// table maps them.
var (
	// ErrTooLarge: the request body is over the configured limit (413).
	ErrTooLarge = errors.New("request body too large")
	// ErrBadGateway: the node that must answer a call did not (502); the
	// client may retry.
	ErrBadGateway = errors.New("bad gateway")
	// ErrNotServed: a vendor's route the SDKs call that snapgate does not
	// serve yet (501, never 404: an SDK reads a 404 on a sandbox's route as
	// "sandbox not found"). See Route.Unserved and NotServed.
	ErrNotServed = errors.New("not served")
)

// Kinds lists the edge's kinds, for vendors' exhaustive tables.
var Kinds = []error{ErrTooLarge, ErrBadGateway, ErrNotServed}

// bodyStep bounds the request's body, or for a stream or an upload sets
// progress deadlines instead.
func (r *Router) bodyStep(m *mount, rt Route) gin.HandlerFunc {
	limit := r.opt.BodyLimit
	if rt.Upload || limit <= 0 {
		limit = 0
	}
	d := r.opt.Progress
	if !rt.Stream && !rt.Upload {
		d = 0
	}
	return func(c *gin.Context) {
		if limit > 0 && !m.limitBody(c, limit) {
			return
		}
		if d > 0 {
			progress(c, d)
		}
	}
}

// limitBody refuses request bodies over n bytes with ErrTooLarge (413). A
// chunked body has no length to check up front: it is read up to the
// limit here, so an oversized one is refused as such rather than as
// whatever parse error a cut-off body causes later. It reports whether the
// request goes on.
func (m *mount) limitBody(c *gin.Context, n int64) bool {
	r := c.Request
	if r.ContentLength > n {
		m.tooLarge(c)
		return false
	}
	if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(r.Body, n+1))
		switch {
		case int64(len(b)) > n:
			m.tooLarge(c)
			return false
		case err != nil:
			m.v.WriteError(c, core.WithCause(core.ErrInvalidArgument, err, "cannot read the request body"))
			return false
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		return true
	}
	r.Body = http.MaxBytesReader(c.Writer, r.Body, n)
	return true
}

// Lingering close of a refused body, as nginx does it: after the 413 is
// sent, up to lingerBytes more of the body are read and dropped, for at
// most lingerTime, before the connection closes. Closing on unread data
// makes the kernel answer the client's next segments with a reset, which
// discards the 413 the client has not read yet: SDKs then report a
// connection reset instead of "too large". The bounds keep a client from
// making the server read forever.
const (
	lingerBytes = 16 << 20
	lingerTime  = 10 * time.Second
)

func (m *mount) tooLarge(c *gin.Context) {
	c.Header("Connection", "close") // the body is not read to its end
	rc := http.NewResponseController(c.Writer)
	// Without full duplex, net/http gives up on the body once the
	// response is written, and the drain below would read nothing.
	_ = rc.EnableFullDuplex()
	m.v.WriteError(c, core.Errorf(ErrTooLarge, "request body larger than the configured limit"))
	_ = rc.Flush()
	linger(c.Request, rc)
}

// linger reads what is left of r's body within the lingering bounds.
func linger(r *http.Request, rc *http.ResponseController) {
	// A client waiting for "100 Continue" got the final status instead and
	// sends no body.
	if r.Body == nil || r.Body == http.NoBody || strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return
	}
	_ = rc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, r.Body, lingerBytes)
}
