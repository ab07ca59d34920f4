package adaptertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// Tried counts the inputs a fuzz or table test tried and logs the total
// when tb ends, for the "bad inputs tried" figure.
func Tried(tb testing.TB) *atomic.Int64 {
	var n atomic.Int64
	tb.Cleanup(func() { tb.Logf("%s: %d inputs tried", tb.Name(), n.Load()) })
	return &n
}

// StatusCounts tallies the statuses a test's inputs got, logged when it
// ends: a fuzzer whose inputs all stop at one early 4xx tests little.
type StatusCounts struct {
	mu sync.Mutex
	n  map[int]int
}

// Statuses returns a tally logged when tb ends.
func Statuses(tb testing.TB) *StatusCounts {
	s := &StatusCounts{n: map[int]int{}}
	tb.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		tb.Logf("%s: statuses %v", tb.Name(), s.n)
	})
	return s
}

// Add counts one status.
func (s *StatusCounts) Add(status int) {
	s.mu.Lock()
	s.n[status]++
	s.mu.Unlock()
}

// Target builds a request target from a template whose "{}" is replaced
// by param: percent-encoded as a client would (as a path segment, or a
// query value after "?"), or when raw is set written as given (so
// "%2e%2e%2f" reaches the router as such). A raw param that makes no
// valid URL is encoded instead.
func Target(template, param string, raw bool) *url.URL {
	if raw {
		if u, err := url.Parse(strings.Replace(template, "{}", param, 1)); err == nil && u.Host == "" && u.Scheme == "" && strings.HasPrefix(u.Path, "/") {
			return u
		}
	}
	enc := url.PathEscape(param)
	if q := strings.Index(template, "?"); q >= 0 && q < strings.Index(template, "{}") {
		enc = url.QueryEscape(param)
	}
	u, err := url.Parse(strings.Replace(template, "{}", enc, 1))
	if err != nil {
		panic(err) // templates are the tests' own
	}
	return u
}

// Do serves one request with h, in-process, and returns the status and body.
func Do(h http.Handler, method string, u *url.URL, header http.Header, body []byte) (int, []byte) {
	return do(context.Background(), h, method, u, header, body)
}

// DoT is Do for a fuzz target: a response that drifts from the spec (see
// ValidateResponses) fails t, not the server's testing.F, which must not
// be failed from inside the target.
func DoT(t testing.TB, h http.Handler, method string, u *url.URL, header http.Header, body []byte) (int, []byte) {
	return do(context.WithValue(context.Background(), reporterKey{}, t), h, method, u, header, body)
}

func do(ctx context.Context, h http.Handler, method string, u *url.URL, header http.Header, body []byte) (int, []byte) {
	req := httptest.NewRequestWithContext(ctx, method, "/", bytes.NewReader(body))
	req.URL, req.RequestURI = u, u.RequestURI()
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	out, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, out
}

// Handler is the router a Serve'd server runs, for Do.
func Handler(srv *httptest.Server) http.Handler { return srv.Config.Handler }

// Quote returns s as a JSON string literal, for building request bodies
// around hostile names.
func Quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// FuzzRoute is one route an adapter's request fuzzer drives: "{}" in Path
// is the fuzzed parameter; Spec names the operation whose schemas seed its
// bodies ("" for routes without a request body).
type FuzzRoute struct {
	Method, Path, Spec string
}

// AddRouteSeeds seeds a request fuzzer whose inputs are (route index,
// param, raw, body): the spec's example bodies on the routes of their
// operation with param as the path value, every hostile name as the path
// value with nameBody(name) as the body, and the hostile bodies on every
// route that takes one.
func AddRouteSeeds(f *testing.F, spec *openapi3.T, routes []FuzzRoute, param string, nameBody func(string) []byte) {
	for _, seed := range Seeds(spec) {
		for i, rt := range routes {
			if rt.Method == seed.Method && rt.Spec == seed.Path {
				f.Add(byte(i), param, false, seed.Body)
			}
		}
	}
	for i, rt := range routes {
		for _, name := range HostileNames() {
			f.Add(byte(i), name, strings.Contains(name, "%"), nameBody(name))
		}
		if rt.Spec != "" {
			for _, body := range HostileBodies() {
				f.Add(byte(i), param, false, body)
			}
		}
	}
}
