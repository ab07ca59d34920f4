package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/adapters/edge"
)

// hygieneServer is both adapters behind the deadlines and body limits the
// router of serve.go sets, served by newHTTPServer with timeouts on
// loopback, plus a stand-in vendor with an upload (POST /files) and a
// download (GET /files): the deadlines follow the routes' declarations,
// not the handlers.
func hygieneServer(t *testing.T, to HTTPTimeouts, limit int64) (addr, key string) {
	t.Helper()
	r, key := vendorRouter(t, edge.Options{Logger: adaptertest.Logger(), BodyLimit: limit, Progress: to.Progress})
	upload := func(c *gin.Context) {
		n, err := io.Copy(io.Discard, c.Request.Body)
		if err != nil {
			c.String(http.StatusBadRequest, "read %d bytes: %v", n, err)
			return
		}
		c.String(http.StatusOK, "%d", n)
	}
	download := func(c *gin.Context) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for c.Request.Context().Err() == nil {
			if _, err := c.Writer.Write(chunk); err != nil {
				return
			}
		}
	}
	err := r.Mount(edge.Vendor{
		Label: "standin", Authenticate: func(*gin.Context) {},
		WriteError: func(c *gin.Context, err error) { c.AbortWithStatus(http.StatusInternalServerError) },
		Routes: []edge.Route{
			{Method: "POST", Path: "/files", Locate: edge.AnyNode, Upload: true, Handlers: []gin.HandlerFunc{upload}},
			{Method: "GET", Path: "/files", Locate: edge.AnyNode, Stream: true, Handlers: []gin.HandlerFunc{download}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := newHTTPServer(r, to, t.Context())
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return ln.Addr().String(), key
}

// shortTimeouts make the server give up on a stalled client quickly; the
// client's own deadline (clientPatience) is far longer, so a pass means
// the server cut the connection, whatever the machine's load.
var shortTimeouts = HTTPTimeouts{ReadHeader: 300 * time.Millisecond, Read: 300 * time.Millisecond,
	Idle: 300 * time.Millisecond, Progress: 300 * time.Millisecond}

const clientPatience = 20 * time.Second

// dial opens a raw connection the test drives byte by byte.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(clientPatience)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// waitClosed reads until the server closes conn; failing if the client's
// own deadline comes first (the server held the connection).
func waitClosed(t *testing.T, conn net.Conn) string {
	t.Helper()
	got, err := io.ReadAll(conn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server held a stalled connection for %s (read so far: %q)", clientPatience, got)
	}
	return string(got)
}

// The attack: slowloris. A client opens connections and sends headers or a
// body a few bytes at a time, then stalls, until the server runs out of
// connections, goroutines or file descriptors.
func TestStalledClientsAreCut(t *testing.T) {
	t.Parallel()
	addr, key := hygieneServer(t, shortTimeouts, 1<<20)
	cases := []struct {
		name, send string
	}{
		{"headers never finished", "POST /v2/sandboxes/boxes HTTP/1.1\r\nHost: x\r\nX-Api-Key: " + key + "\r\n"},
		{"API body stalls", "POST /v2/sandboxes/boxes HTTP/1.1\r\nHost: x\r\nX-Api-Key: " + key +
			"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":"},
		{"chunked API body stalls", "POST /v2/sandboxes/boxes HTTP/1.1\r\nHost: x\r\nX-Api-Key: " + key +
			"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n{\"name\":\r\n"},
		{"upload body stalls", "POST /files HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nsome bytes"},
		{"idle keep-alive connection", "GET /healthz-nope HTTP/1.1\r\nHost: x\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn := dial(t, addr)
			if _, err := io.WriteString(conn, tc.send); err != nil {
				t.Fatal(err)
			}
			got := waitClosed(t, conn)
			t.Logf("server answered %q before closing", firstLine(got))
		})
	}
}

// An upload that keeps moving outlives the read timeout of ordinary
// requests: only a stall ends it.
func TestMovingUploadOutlivesTheReadTimeout(t *testing.T) {
	t.Parallel()
	to := shortTimeouts
	to.Progress = 10 * time.Second // far above the gaps below
	addr, _ := hygieneServer(t, to, 1<<20)
	conn := dial(t, addr)
	const n = 12
	if _, err := fmt.Fprintf(conn, "POST /files HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", n); err != nil {
		t.Fatal(err)
	}
	// n bytes over n*100ms: four times the read timeout in all.
	for range n {
		time.Sleep(100 * time.Millisecond)
		if _, err := conn.Write([]byte("x")); err != nil {
			t.Fatalf("the server cut a moving upload: %v", err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != fmt.Sprint(n) {
		t.Errorf("upload answered %d %q, want 200 %q", resp.StatusCode, body, fmt.Sprint(n))
	}
}

// The attack: a download whose client stops reading keeps a sandbox file
// open and a goroutine blocked in write forever.
func TestStalledDownloadIsCut(t *testing.T) {
	t.Parallel()
	addr, _ := hygieneServer(t, shortTimeouts, 1<<20)
	conn := dial(t, addr)
	if _, err := io.WriteString(conn, "GET /files HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Read a little, then stop until the socket buffers fill and the
	// server's write stalls; then the server must close.
	if _, err := io.ReadFull(conn, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	waitClosed(t, conn)
}

// The attack on the client, not the server: a body over the limit is
// refused, but closing with the rest unread resets the connection, and the
// SDK reports "connection reset" instead of the 413 it could act on.
func TestOversizedBodyGetsAReadable413(t *testing.T) {
	t.Parallel()
	to := shortTimeouts
	to.Read = 10 * time.Second // the body must not be cut by the read timeout
	addr, key := hygieneServer(t, to, 1024)
	big := strings.Repeat("a", 4<<20)
	cases := []struct {
		name, head, body string
		langsmith        bool
	}{
		{"LangSmith with Content-Length", fmt.Sprintf("POST /v2/sandboxes/snapshots HTTP/1.1\r\nHost: x\r\nX-Api-Key: %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", key, len(big)), big, true},
		{"E2B chunked", fmt.Sprintf("POST /sandboxes HTTP/1.1\r\nHost: x\r\nX-Api-Key: %s\r\n"+
			"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", key),
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(big), big), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn := dial(t, addr)
			// Send everything before reading, as a simple client does: if the
			// server closed early, the writes or the read below see a reset.
			sent := make(chan error, 1)
			go func() {
				_, err := io.WriteString(conn, tc.head+tc.body)
				sent <- err
			}()
			if err := <-sent; err != nil {
				t.Fatalf("sending the body: %v (the server closed without reading it)", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("read the response: %v", err)
			}
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !vendorTooLarge(raw, tc.langsmith) {
				t.Errorf("got %d %s, want 413 with the vendor error body", resp.StatusCode, raw)
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}
