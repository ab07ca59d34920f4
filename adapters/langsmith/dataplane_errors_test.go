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

// Dataplane calls answer with the tokens the SDKs' dataplane handlers
// dispatch on (contract §5): every core kind, per operation.
func TestDataplaneErrorTable(t *testing.T) {
	cases := []struct {
		op     string
		err    error
		status int
		token  string
		msg    string
	}{
		{opWrite, core.Errorf(core.ErrInvalidArgument, "is a directory"), 400, "WriteError", "is a directory"},
		{opRead, core.Errorf(core.ErrInvalidArgument, "is a directory"), 400, "ReadError", "is a directory"},
		{opCommand, core.Errorf(core.ErrInvalidArgument, "no such cwd"), 400, "CommandError", "no such cwd"},
		{opRead, core.Errorf(core.ErrNotFound, "no file"), 404, "FileNotFound", "no file"},
		{"", core.Errorf(core.ErrNotFound, "no box"), 404, "NotFound", "no box"},
		{opWrite, core.Errorf(core.ErrAlreadyExists, "exists"), 409, "WriteError", "exists"},
		{"", core.Errorf(core.ErrFailedPrecondition, "still starting"), 400, "NotReady", "still starting"},
		{opCommand, core.Errorf(core.ErrFailedPrecondition, "paused"), 400, "NotReady", "paused"},
		{opWrite, core.Errorf(core.ErrResourceExhausted, "disk full"), 507, "WriteError", "disk full"},
		{opRead, core.Errorf(core.ErrUnavailable, "down"), 503, "ServiceUnavailable", "down"},
		{opRead, core.Errorf(core.ErrUnauthenticated, "unknown user"), 403, "PermissionDenied", "unknown user"},
		{opWrite, core.Errorf(core.ErrPermissionDenied, "read-only"), 403, "PermissionDenied", "read-only"},
		{opWrite, errors.New("disk at /var/lib exploded"), 500, "WriteError", "internal error"},
		{"", errors.New("db exploded"), 500, "InternalError", "internal error"},
		{opCommand, core.Errorf(errCommandTimeout, "timed out"), 408, "CommandError", "timed out"},
		{opCommand, fmt.Errorf("wrapped: %w", core.Errorf(core.ErrNotFound, "gone")), 404, "FileNotFound", "gone"},
	}
	for _, k := range core.Kinds {
		if _, ok := dataplaneTable[k]; !ok {
			t.Errorf("dataplaneTable has no entry for %v", k)
		}
	}
	gin.SetMode(gin.TestMode)
	a := &API{log: discardLogger()}
	for _, tc := range cases {
		t.Run(tc.op+"/"+tc.token+"/"+tc.msg, func(t *testing.T) {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodPost, "/dataplane/b/execute", nil)
			c.Set(edge.RequestIDKey, "req_1")
			a.writeError(c, dataplaneErr(tc.op, tc.err))
			if w.Code != tc.status {
				t.Errorf("status = %d, want %d", w.Code, tc.status)
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

// WebSocket error frames: CommandTimeout is the SDKs' timeout error,
// CommandNotFound an unknown command_id, the rest their operation error.
func TestWSErrorTypes(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{core.Errorf(errCommandTimeout, "timed out"), "CommandTimeout"},
		{core.Errorf(core.ErrNotFound, "command x not found"), "CommandNotFound"},
		{core.Errorf(core.ErrInvalidArgument, "bad cwd"), "CommandError"},
		{errors.New("boom"), "CommandError"},
	}
	for _, tc := range cases {
		if got := wsErrorType(tc.err); got != tc.want {
			t.Errorf("wsErrorType(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
