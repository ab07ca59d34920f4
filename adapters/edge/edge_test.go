package edge

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func testContext(headers map[string]string) *gin.Context {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest("GET", "/", nil)
	for k, v := range headers {
		c.Request.Header.Set(k, v)
	}
	return c
}

func TestAPIKey(t *testing.T) {
	cases := []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"x-api-key lower case", map[string]string{"x-api-key": "k1"}, "k1"},
		{"X-API-KEY upper case", map[string]string{"X-API-KEY": "k2"}, "k2"},
		{"bearer", map[string]string{"Authorization": "Bearer k3"}, "k3"},
		{"bearer any casing", map[string]string{"authorization": "bEaReR  k4 "}, "k4"},
		{"header wins over bearer", map[string]string{"X-Api-Key": "k5", "Authorization": "Bearer other"}, "k5"},
		{"basic auth is not a key", map[string]string{"Authorization": "Basic dXNlcjo="}, ""},
		{"none", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := APIKey(testContext(tc.headers)); got != tc.want {
				t.Errorf("APIKey = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAssignRequestID(t *testing.T) {
	cases := []struct {
		name, header string
		keep         bool
	}{
		{"plain client id kept", "abc-123_x.y", true},
		{"none", "", false},
		{"too long", strings.Repeat("a", 65), false},
		{"log injection", "a\nb", false},
		{"quotes", `a"b`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testContext(map[string]string{"X-Request-Id": tc.header})
			AssignRequestID(c)
			got := RequestID(c)
			if tc.keep && got != tc.header {
				t.Errorf("id = %q, want the client's %q", got, tc.header)
			}
			if !tc.keep && (got == tc.header || !strings.HasPrefix(got, "req_")) {
				t.Errorf("id = %q, want a fresh req_ id", got)
			}
			if h := c.Writer.Header().Get("X-Request-Id"); h != got {
				t.Errorf("response header %q, want %q", h, got)
			}
		})
	}
}
