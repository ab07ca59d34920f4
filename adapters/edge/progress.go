package edge

import (
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// progress replaces the server's whole-request read deadline with
// progress deadlines for a stream or upload: its body and answer may
// rightly last hours, but one that stops moving for d is cut, so a client
// that sends a few bytes and stalls cannot hold the connection (and a
// sandbox file or process stream) forever. Other routes keep the server's
// ReadTimeout. WebSocket upgrades need nothing: net/http clears the
// deadlines when it starts reading past a bodiless request, and hijack
// keeps them clear.
func progress(c *gin.Context, d time.Duration) {
	rc := http.NewResponseController(c.Writer)
	if b := c.Request.Body; b != nil && b != http.NoBody {
		c.Request.Body = &progressReader{ReadCloser: b, rc: rc, d: d}
	}
	c.Writer = &progressWriter{ResponseWriter: c.Writer, rc: rc, d: d}
	c.Next()
	// Without a WriteTimeout the server never resets the write
	// deadline, so the next request on this connection would inherit it.
	_ = rc.SetWriteDeadline(time.Time{})
}

// progressReader moves the read deadline d past now before every read.
// Once the body is read to its end, net/http clears the deadline itself.
type progressReader struct {
	io.ReadCloser
	rc *http.ResponseController
	d  time.Duration
}

func (p *progressReader) Read(b []byte) (int, error) {
	// An error means the writer cannot take deadlines (a test recorder):
	// the body is then read without one, as before.
	_ = p.rc.SetReadDeadline(time.Now().Add(p.d))
	return p.ReadCloser.Read(b)
}

// progressWriter moves the write deadline d past now before every write
// and flush, so a client that stops reading a download is dropped.
type progressWriter struct {
	gin.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (p *progressWriter) Write(b []byte) (int, error) {
	_ = p.rc.SetWriteDeadline(time.Now().Add(p.d))
	return p.ResponseWriter.Write(b)
}

func (p *progressWriter) WriteString(s string) (int, error) {
	_ = p.rc.SetWriteDeadline(time.Now().Add(p.d))
	return p.ResponseWriter.WriteString(s)
}

func (p *progressWriter) Flush() {
	_ = p.rc.SetWriteDeadline(time.Now().Add(p.d))
	p.ResponseWriter.Flush()
}

// Unwrap lets http.ResponseController reach the connection through p.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
