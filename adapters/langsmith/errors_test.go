package langsmith

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// Every core kind maps to one exact LangSmith status and body.
func TestErrorTable(t *testing.T) {
	cases := []struct {
		err        error
		status     int
		token, msg string
	}{
		{core.Errorf(core.ErrInvalidArgument, "name is bad"), 422, "ValidationError", "name is bad"},
		{core.Errorf(core.ErrNotFound, "snapshot x not found"), 404, "NotFound", "snapshot x not found"},
		{core.Errorf(core.ErrAlreadyExists, "dup"), 409, "Conflict", "dup"},
		{core.Errorf(core.ErrFailedPrecondition, "wrong state"), 409, "InvalidState", "wrong state"},
		{core.Errorf(core.ErrResourceExhausted, "quota"), 429, "QuotaExceeded", "quota"},
		{fmt.Errorf("record sandbox: %w", core.Errorf(core.ErrResourceExhausted, "sandbox count limit reached: 5 of 5 sandboxes running or paused")),
			429, "QuotaExceeded", "sandbox count limit reached: 5 of 5 sandboxes running or paused"},
		{core.Errorf(core.ErrUnavailable, "down"), 503, "ServiceUnavailable", "down"},
		{core.Errorf(core.ErrUnauthenticated, "missing API key"), 403, "Forbidden", "missing API key"},
		{core.Errorf(core.ErrPermissionDenied, "no"), 403, "Forbidden", "no"},
		{core.Errorf(edge.ErrTooLarge, "too big"), 413, "PayloadTooLarge", "too big"},
		{core.WithCause(edge.ErrBadGateway, errors.New("dial 10.0.0.2"), "retry"), 502, "BadGateway", "retry"},
		{&core.ElsewhereError{Node: "b", Address: "http://10.0.0.2"}, 500, "InternalError", "internal error"},
		{errors.New("db exploded at 10.0.0.1"), 500, "InternalError", "internal error"},
	}
	if want := len(core.Kinds) + len(edge.Kinds); len(errorTable) != want {
		t.Fatalf("errorTable maps %d kinds, core and edge have %d", len(errorTable), want)
	}
	gin.SetMode(gin.TestMode)
	a := &API{log: discardLogger()}
	for _, tc := range cases {
		t.Run(tc.token+"/"+tc.msg, func(t *testing.T) {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodGet, "/v2/sandboxes/snapshots", nil)
			c.Set(edge.RequestIDKey, "req_1")
			a.writeError(c, tc.err)
			if w.Code != tc.status {
				t.Errorf("status = %d, want %d", w.Code, tc.status)
			}
			// A quota does not clear by waiting: Retry-After 0 spares the
			// Python client its backoff before it reports the error.
			if ra := w.Header().Get("Retry-After"); (tc.status == 429) != (ra == "0") {
				t.Errorf("Retry-After = %q on %d, want \"0\" exactly on 429", ra, tc.status)
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"detail": map[string]any{"error": tc.token, "error_id": "req_1", "message": tc.msg}}
			if diff := cmp.Diff(want, body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}
