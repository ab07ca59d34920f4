package e2b

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// Every core kind maps to one exact E2B status and {code, message} body.
func TestErrorTable(t *testing.T) {
	cases := []struct {
		err    error
		status int
		msg    string
	}{
		{core.Errorf(core.ErrInvalidArgument, "timeout is bad"), 400, "timeout is bad"},
		{core.Errorf(core.ErrUnauthenticated, "missing API key"), 401, "missing API key"},
		{core.Errorf(core.ErrPermissionDenied, "no"), 403, "no"},
		{core.Errorf(core.ErrNotFound, "sandbox x not found"), 404, "sandbox x not found"},
		{core.Errorf(core.ErrAlreadyExists, "dup"), 409, "dup"},
		{&core.TransitionError{Resource: "sandbox i1", From: "paused", To: "paused"}, 409, `sandbox i1 cannot go from "paused" to "paused"`},
		{core.Errorf(core.ErrFailedPrecondition, "wrong state"), 409, "wrong state"},
		{core.Errorf(core.ErrResourceExhausted, "quota"), 429, "quota"},
		{fmt.Errorf("record sandbox: %w", core.Errorf(core.ErrResourceExhausted, "sandbox count limit reached: 5 of 5 sandboxes running or paused")),
			429, "sandbox count limit reached: 5 of 5 sandboxes running or paused"},
		{core.Errorf(core.ErrUnavailable, "down"), 503, "down"},
		{fmt.Errorf("wrapped: %w", core.Errorf(core.ErrNotFound, "gone")), 404, "gone"},
		{core.Errorf(edge.ErrTooLarge, "too big"), 413, "too big"},
		{core.WithCause(edge.ErrBadGateway, errors.New("dial 10.0.0.2"), "retry"), 502, "retry"},
		{&core.ElsewhereError{Node: "b", Address: "http://10.0.0.2"}, 500, "internal error"},
		{errors.New("db exploded at 10.0.0.1"), 500, "internal error"},
	}
	if want := len(core.Kinds) + len(edge.Kinds); len(errorTable) != want {
		t.Fatalf("errorTable maps %d kinds, core and edge have %d", len(errorTable), want)
	}
	gin.SetMode(gin.TestMode)
	a := &API{log: discardLogger()}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d/%s", tc.status, tc.msg), func(t *testing.T) {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodGet, "/sandboxes/i1", nil)
			a.writeError(c, tc.err)
			if w.Code != tc.status {
				t.Errorf("status = %d, want %d", w.Code, tc.status)
			}
			if ra := w.Header().Get("Retry-After"); ra != "" {
				t.Errorf("Retry-After = %q, want none (the JS SDK would retry)", ra)
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"code": float64(tc.status), "message": tc.msg}
			if len(body) != 2 || body["code"] != want["code"] || body["message"] != want["message"] {
				t.Errorf("body = %v, want %v", body, want)
			}
		})
	}
}
