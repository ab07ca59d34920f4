package envd

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// The Connect protocol (v1) with the JSON codec, as the e2b SDKs speak it
// (connect-web with useBinaryFormat false; Python's JSON codec):
//
//   - unary: POST, application/json body holding the request message; 200
//     with the response message, or a non-2xx status with
//     {"code":"<lower_snake>","message":…}.
//   - server-streaming: POST, application/connect+json body holding one
//     envelope (flag byte, 4-byte big-endian length, JSON); 200 with one
//     envelope per response message, then an end-stream envelope (flag 0x02)
//     holding {} or {"error":{…}}. Errors always travel in the end-stream
//     message, even before the first response.
//
// Nothing is compressed: the SDKs advertise no Connect-Accept-Encoding.

const (
	flagCompressed = 0x01
	flagEndStream  = 0x02
	// maxMessage bounds a request message (a Start with a large env is
	// the biggest the SDKs send).
	maxMessage = 8 << 20
	// defaultKeepalive is envd's interval when Keepalive-Ping-Interval is absent.
	defaultKeepalive = 90 * time.Second
)

// readUnary decodes the JSON request message of a unary call into dst; an
// empty body is the empty message.
func readUnary(c *gin.Context, dst any) error {
	raw, err := io.ReadAll(io.LimitReader(c.Request.Body, maxMessage+1))
	if err != nil {
		return core.WithCause(core.ErrInvalidArgument, err, "cannot read the request message")
	}
	return decodeMessage(raw, dst)
}

// readEnvelope reads the single request envelope of a server-streaming call.
func readEnvelope(r io.Reader) ([]byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, core.WithCause(core.ErrInvalidArgument, err, "the request holds no Connect envelope")
	}
	if head[0]&flagCompressed != 0 {
		return nil, core.Errorf(core.ErrInvalidArgument, "compressed request messages are not supported")
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n > maxMessage {
		return nil, core.Errorf(core.ErrResourceExhausted, "request message of %d bytes is larger than %d", n, maxMessage)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, core.WithCause(core.ErrInvalidArgument, err, "the request envelope is truncated")
	}
	return msg, nil
}

// readStream reads a server-streaming call's request: its one enveloped
// message, validated against its schema, into dst, and its deadline
// (Connect-Timeout-Ms; 0 = none).
func (a *API) readStream(c *gin.Context, dst any) (time.Duration, error) {
	if mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type")); mt != "application/connect+json" {
		return 0, core.Errorf(core.ErrInvalidArgument, "content type %q: this server speaks Connect with JSON (application/connect+json)", c.GetHeader("Content-Type"))
	}
	raw, err := readEnvelope(c.Request.Body)
	if err != nil {
		return 0, err
	}
	if err := a.checkMessage(c, raw); err != nil {
		return 0, err
	}
	if err := decodeMessage(raw, dst); err != nil {
		return 0, err
	}
	return timeoutOf(c)
}

func decodeMessage(raw []byte, dst any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return core.WithCause(core.ErrInvalidArgument, err, "invalid request message: %s", jsonProblem(err))
	}
	return nil
}

// jsonProblem names the field of a decoding error without echoing input.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("field %q: cannot be %s", te.Field, te.Value)
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return fe.Error()
	}
	return "not a JSON object"
}

// writeUnary answers a unary call with msg.
func writeUnary(c *gin.Context, msg any) {
	c.JSON(http.StatusOK, msg)
}

// stream writes the response of a server-streaming call.
type stream struct {
	w   gin.ResponseWriter
	err error // the first write error: the client is gone
}

func newStream(c *gin.Context) *stream {
	c.Header("Content-Type", "application/connect+json")
	// Proxies (nginx) must not hold the envelopes back.
	c.Header("X-Accel-Buffering", "no")
	return &stream{w: c.Writer}
}

// send writes one response message and flushes it.
func (s *stream) send(msg any) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return s.envelope(0, data)
}

// end writes the end-stream message: success when e is the zero value.
func (s *stream) end(e connectError) {
	body := []byte("{}")
	if e.Code != "" {
		body, _ = json.Marshal(struct {
			Error connectError `json:"error"`
		}{e})
	}
	_ = s.envelope(flagEndStream, body)
}

func (s *stream) envelope(flags byte, data []byte) error {
	if s.err != nil {
		return s.err
	}
	var head [5]byte
	head[0] = flags
	binary.BigEndian.PutUint32(head[1:], uint32(len(data)))
	if _, err := s.w.Write(head[:]); err != nil {
		s.err = err
		return err
	}
	if _, err := s.w.Write(data); err != nil {
		s.err = err
		return err
	}
	s.w.Flush()
	return nil
}

// timeoutOf reads Connect-Timeout-Ms; 0 means none.
func timeoutOf(c *gin.Context) (time.Duration, error) {
	h := c.GetHeader("Connect-Timeout-Ms")
	if h == "" {
		return 0, nil
	}
	ms, err := strconv.ParseUint(h, 10, 64)
	if err != nil || len(h) > 10 {
		return 0, core.Errorf(core.ErrInvalidArgument, "Connect-Timeout-Ms %q is not a number of at most 10 digits", h)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// keepaliveOf reads Keepalive-Ping-Interval (seconds).
func keepaliveOf(c *gin.Context) time.Duration {
	s, err := strconv.Atoi(c.GetHeader("Keepalive-Ping-Interval"))
	// Past an hour a keepalive keeps nothing alive; far past it, seconds
	// wrap around to a negative duration, on which a ticker panics.
	if err != nil || s <= 0 || s > 3600 {
		return defaultKeepalive
	}
	return time.Duration(s) * time.Second
}

// unaryDeadline applies Connect-Timeout-Ms to a unary call's context.
func (a *API) unaryDeadline(c *gin.Context) {
	d, err := timeoutOf(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	if d == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx(c), d)
	defer cancel()
	c.Request = c.Request.WithContext(cctx)
	c.Next()
}
