package edge_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
)

// A vendor with Claims answers every request it claims, even on a path
// another vendor serves, and nothing else; its unknown routes are its own
// not-found.
func TestClaimsComeBeforePathRouting(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := edge.NewRouter(edge.Options{})
	paths := fakeVendor("paths", edge.Route{Method: "GET", Path: "/paths/x", Locate: edge.AnyNode, Handlers: []gin.HandlerFunc{answer("paths")}})
	ports := fakeVendor("ports", edge.Route{Method: "GET", Path: "/*path", Locate: edge.AnyNode, Handlers: []gin.HandlerFunc{answer("ports")}})
	ports.Claims = func(r *http.Request) bool { return r.Header.Get("X-Api-Key") == "key-ports" }
	if err := r.Mount(paths); err != nil {
		t.Fatal(err)
	}
	if err := r.Mount(ports); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, method, path, key string
		status                  int
		body                    string
	}{
		{"claimed, a path another vendor serves", "GET", "/paths/x", "key-ports", 200, "ports"},
		{"claimed, any path", "GET", "/any/where", "key-ports", 200, "ports"},
		{"not claimed", "GET", "/paths/x", "key-paths", 200, "paths"},
		{"not claimed, the claiming vendor's route is not routed by path", "GET", "/any/where", "key-paths", 404, ""},
		{"claimed, a method it does not serve", "DELETE", "/x", "key-ports", 404, `"vendor":"ports"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := do(t, r, tc.method, tc.path, tc.key, nil)
			if got.status != tc.status || (tc.body != "" && !strings.Contains(got.body, tc.body)) {
				t.Errorf("got %d %s, want %d with %q", got.status, got.body, tc.status, tc.body)
			}
		})
	}
}
