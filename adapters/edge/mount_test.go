package edge_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// fakeStatus is the fake vendors' error table.
var fakeStatus = map[error]int{
	core.ErrInvalidArgument: 400, core.ErrUnauthenticated: 401, core.ErrNotFound: 404,
	edge.ErrTooLarge: 413, edge.ErrBadGateway: 502,
}

// fakeVendor is a vendor named name whose errors are
// {"vendor":name,"code":status,"message":…} and whose key is "key-<name>".
func fakeVendor(name string, routes ...edge.Route) edge.Vendor {
	return edge.Vendor{
		Label: name, Owns: []string{"/" + name},
		Authenticate: func(c *gin.Context) {
			if c.GetHeader("X-Api-Key") != "key-"+name {
				writeFake(name)(c, core.Errorf(core.ErrUnauthenticated, "bad key"))
				return
			}
			c.Request = c.Request.WithContext(core.WithPrincipal(c.Request.Context(), core.Principal{TenantID: "t-" + name}))
		},
		WriteError: writeFake(name),
		Routes:     routes,
	}
}

func writeFake(name string) func(*gin.Context, error) {
	return func(c *gin.Context, err error) {
		if edge.Forward(c, err) {
			return
		}
		st, ok := fakeStatus[core.KindOf(err)]
		if !ok {
			st = 500
		}
		c.AbortWithStatusJSON(st, gin.H{"vendor": name, "code": st, "message": core.PublicMessage(err)})
	}
}

func answer(text string) gin.HandlerFunc {
	return func(c *gin.Context) { c.String(http.StatusOK, text) }
}

// fakeAnswer is a reply of a test server.
type fakeAnswer struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

func do(t *testing.T, h http.Handler, method, path, key string, body io.Reader) fakeAnswer {
	t.Helper()
	req := httptest.NewRequest(method, path, body)
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	a := fakeAnswer{status: w.Code, header: w.Header(), body: w.Body.String()}
	_ = json.Unmarshal(w.Body.Bytes(), &a.json)
	return a
}

// Each mount answers in its own vendor's shape: auth failures, panics,
// oversized bodies and unknown routes under its paths; labels requests
// with its vendor; and the fallback answers unknown paths nobody owns.
func TestEachMountAnswersInItsVendorsShape(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var labels []string
	r := edge.NewRouter(edge.Options{BodyLimit: 16, Outer: []gin.HandlerFunc{func(c *gin.Context) {
		c.Next()
		labels = append(labels, edge.Label(c))
	}}})
	r.GET("/healthz", answer("ok"))
	a := fakeVendor("a",
		edge.Route{Method: "GET", Path: "/a/ok", Locate: edge.AnyNode, Handlers: []gin.HandlerFunc{answer("a ok")}},
		edge.Route{Method: "GET", Path: "/a/panic", Locate: edge.AnyNode, Handlers: []gin.HandlerFunc{func(*gin.Context) { panic("boom") }}},
		edge.Route{Method: "POST", Path: "/a/body", Locate: edge.AnyNode, Handlers: []gin.HandlerFunc{readAll}},
		edge.Route{Method: "POST", Path: "/a/upload", Locate: edge.AnyNode, Upload: true, Handlers: []gin.HandlerFunc{readAll}},
	)
	b := fakeVendor("b", edge.Route{Method: "GET", Path: "/b/ok", Locate: edge.AnyNode, Handlers: []gin.HandlerFunc{answer("b ok")}})
	b.Fallback = true
	b.Owns = append(b.Owns, "/a/b-owns")
	for _, v := range []edge.Vendor{a, b} {
		if err := r.Mount(v); err != nil {
			t.Fatal(err)
		}
	}
	big := strings.Repeat("x", 17)
	cases := []struct {
		name, method, path, key string
		body                    io.Reader
		status                  int
		vendor, label           string // vendor "" : not an error body
	}{
		{"served", "GET", "/a/ok", "key-a", nil, 200, "", "a"},
		{"another vendor's key", "GET", "/a/ok", "key-b", nil, 401, "a", "a"},
		{"panic", "GET", "/a/panic", "key-a", nil, 500, "a", "a"},
		{"body over the limit", "POST", "/a/body", "key-a", strings.NewReader(big), 413, "a", "a"},
		{"chunked body over the limit", "POST", "/a/body", "key-a", io.MultiReader(strings.NewReader(big)), 413, "a", "a"},
		{"upload over the limit", "POST", "/a/upload", "key-a", strings.NewReader(big), 200, "", "a"},
		{"unknown route under a", "GET", "/a/nope", "", nil, 404, "a", "a"},
		{"unknown route, longest owner wins", "GET", "/a/b-owns/x", "", nil, 404, "b", "b"},
		{"unknown route nobody owns: fallback", "GET", "/zzz", "", nil, 404, "b", ""},
		{"not a prefix match", "GET", "/ab", "", nil, 404, "b", ""},
		{"route of no vendor", "GET", "/healthz", "", nil, 200, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			labels = nil
			got := do(t, r, tc.method, tc.path, tc.key, tc.body)
			if got.status != tc.status {
				t.Fatalf("status %d %s, want %d", got.status, got.body, tc.status)
			}
			if tc.vendor != "" && (got.json["vendor"] != tc.vendor || got.json["message"] == "") {
				t.Errorf("body %s, want vendor %s's error", got.body, tc.vendor)
			}
			if tc.status == 500 && strings.Contains(got.body, "boom") {
				t.Errorf("body %s shows the panic", got.body)
			}
			if len(labels) != 1 || labels[0] != tc.label {
				t.Errorf("labels %q, want [%q]", labels, tc.label)
			}
			if rid := got.header.Get("X-Request-Id"); tc.label != "" && rid == "" {
				t.Error("no X-Request-Id")
			}
		})
	}
}

func readAll(c *gin.Context) {
	b, err := io.ReadAll(c.Request.Body)
	if err != nil {
		c.String(http.StatusBadRequest, "%v", err)
		return
	}
	c.String(http.StatusOK, "%d", len(b))
}

// Mount refuses a route whose node is not declared, or whose declaration
// names a parameter the path lacks: a new route cannot silently be
// answered by the wrong node of a cluster.
func TestMountRefusesUndeclaredLocation(t *testing.T) {
	h := []gin.HandlerFunc{answer("x")}
	cases := []struct {
		name  string
		route edge.Route
		want  string
	}{
		{"no Locate", edge.Route{Method: "GET", Path: "/a/:id", Handlers: h}, "no Locate"},
		{"parameter renamed", edge.Route{Method: "GET", Path: "/a/:sandbox_id", Locate: edge.Param("id"), Handlers: h}, `parameter "id"`},
		{"snapshot parameter missing", edge.Route{Method: "GET", Path: "/a/x", Locate: edge.AnyNode, Snapshot: "ref", Handlers: h}, `parameter "ref"`},
		{"nil Func", edge.Route{Method: "GET", Path: "/a/x", Locate: edge.Func(nil), Handlers: h}, "Func(nil)"},
		{"no handler", edge.Route{Method: "GET", Path: "/a/x", Locate: edge.AnyNode}, "no handler"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := edge.NewRouter(edge.Options{}).Mount(fakeVendor("a", tc.route))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Mount: %v, want an error about %s", err, tc.want)
			}
		})
	}
	t.Run("two fallbacks", func(t *testing.T) {
		r := edge.NewRouter(edge.Options{})
		a, b := fakeVendor("a"), fakeVendor("b")
		a.Fallback, b.Fallback = true, true
		if err := errors.Join(r.Mount(a), r.Mount(b)); err == nil {
			t.Error("two vendors both answer unknown routes")
		}
	})
	t.Run("no error writer", func(t *testing.T) {
		v := fakeVendor("a")
		v.WriteError = nil
		if err := edge.NewRouter(edge.Options{}).Mount(v); err == nil {
			t.Error("mounted a vendor without an error writer")
		}
	})
}

// A Passthrough route skips the vendor's Authenticate (its handler checks
// its own credential) and says so (IsPassthrough); the vendor's other
// routes still authenticate.
func TestPassthroughSkipsAuthentication(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := edge.NewRouter(edge.Options{})
	var sawPass, sawPrincipal bool
	pass := func(c *gin.Context) {
		sawPass = edge.IsPassthrough(c)
		_, err := core.PrincipalFrom(c.Request.Context())
		sawPrincipal = err == nil
		c.String(http.StatusOK, "open")
	}
	err := r.Mount(fakeVendor("pt",
		edge.Route{Method: "GET", Path: "/pt/open/:id", Locate: edge.Param("id"), Passthrough: true, Handlers: []gin.HandlerFunc{pass}},
		edge.Route{Method: "GET", Path: "/pt/closed", Locate: edge.AnyNode, Handlers: []gin.HandlerFunc{answer("closed")}},
	))
	if err != nil {
		t.Fatal(err)
	}
	if a := do(t, r, "GET", "/pt/open/x", "", nil); a.status != 200 || a.body != "open" || !sawPass || sawPrincipal {
		t.Errorf("passthrough without a key: %d %q, IsPassthrough %v, principal %v", a.status, a.body, sawPass, sawPrincipal)
	}
	if a := do(t, r, "GET", "/pt/closed", "", nil); a.status != 401 {
		t.Errorf("other route without a key: %d, want 401", a.status)
	}
}
