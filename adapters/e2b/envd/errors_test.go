package envd

import (
	"errors"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// Golden table: every error kind -> the exact answer of each protocol.
func TestErrorTable(t *testing.T) {
	t.Parallel()
	a := &API{log: slog.New(slog.DiscardHandler)}
	cases := []struct {
		err                error
		files, unary       int // HTTP statuses
		code               string
		filesBody, rpcBody string
	}{
		{core.Errorf(core.ErrInvalidArgument, "bad"), 400, 400, "invalid_argument", `{"code":400,"message":"bad"}`, `{"code":"invalid_argument","message":"bad"}`},
		{core.Errorf(core.ErrNotFound, "path '/x' does not exist"), 404, 404, "not_found", `{"code":404,"message":"path '/x' does not exist"}`, `{"code":"not_found","message":"path '/x' does not exist"}`},
		{core.Errorf(core.ErrAlreadyExists, "exists"), 409, 409, "already_exists", `{"code":409,"message":"exists"}`, `{"code":"already_exists","message":"exists"}`},
		{core.Errorf(core.ErrFailedPrecondition, "no stdin"), 409, 400, "failed_precondition", `{"code":409,"message":"no stdin"}`, `{"code":"failed_precondition","message":"no stdin"}`},
		{core.Errorf(core.ErrResourceExhausted, "no space"), 507, 429, "resource_exhausted", `{"code":507,"message":"no space"}`, `{"code":"resource_exhausted","message":"no space"}`},
		{core.Errorf(core.ErrUnavailable, "busy"), 503, 503, "unavailable", `{"code":503,"message":"busy"}`, `{"code":"unavailable","message":"busy"}`},
		{core.Errorf(core.ErrUnauthenticated, "bad token"), 401, 401, "unauthenticated", `{"code":401,"message":"bad token"}`, `{"code":"unauthenticated","message":"bad token"}`},
		{core.Errorf(core.ErrPermissionDenied, "denied"), 403, 403, "permission_denied", `{"code":403,"message":"denied"}`, `{"code":"permission_denied","message":"denied"}`},
		{newError(errUnimplemented, "no pty"), 501, 501, "unimplemented", `{"code":501,"message":"no pty"}`, `{"code":"unimplemented","message":"no pty"}`},
		{newError(errDeadline, "late"), 504, 504, "deadline_exceeded", `{"code":504,"message":"late"}`, `{"code":"deadline_exceeded","message":"late"}`},
		{errors.New("disk on fire"), 500, 500, "internal", `{"code":500,"message":"internal error"}`, `{"code":"internal","message":"internal error"}`},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			if r := answer(a, plainHTTP, tc.err); r.Code != tc.files || r.Body.String() != tc.filesBody {
				t.Errorf("/files: %d %s, want %d %s", r.Code, r.Body, tc.files, tc.filesBody)
			}
			if r := answer(a, unaryRPC, tc.err); r.Code != tc.unary || r.Body.String() != tc.rpcBody {
				t.Errorf("unary: %d %s, want %d %s", r.Code, r.Body, tc.unary, tc.rpcBody)
			}
			r := answer(a, streamRPC, tc.err)
			_, msgs := splitEnvelopes(t, r.Body.Bytes())
			if want := `{"error":` + tc.rpcBody + `}`; r.Code != 200 || len(msgs) != 1 || msgs[0] != want {
				t.Errorf("stream: %d %q, want 200 [%s]", r.Code, msgs, want)
			}
		})
	}
	// Every core kind is in the table.
	for _, k := range core.Kinds {
		if _, ok := errorTable[k]; !ok {
			t.Errorf("kind %v has no entry", k)
		}
	}
}

// A sandbox that is not running is the gateway's 502 in every protocol:
// the SDKs read it as "not running" (TimeoutError, isRunning false).
func TestNotRunningIs502Everywhere(t *testing.T) {
	t.Parallel()
	a := &API{log: slog.New(slog.DiscardHandler)}
	for _, cause := range []error{
		core.Errorf(core.ErrNotFound, "sandbox i1 is not running"),
		core.Errorf(core.ErrFailedPrecondition, "sandbox i1 is paused"),
	} {
		for _, k := range []kind{plainHTTP, unaryRPC, streamRPC} {
			r := answer(a, k, gatewayError("i1", cause))
			if want := `{"code":502,"message":"The sandbox i1 is not running"}`; r.Code != 502 || r.Body.String() != want {
				t.Errorf("kind %d, %v: %d %s, want 502 %s", k, cause, r.Code, r.Body, want)
			}
		}
	}
	// Other failures to open pass through.
	if err := gatewayError("i1", core.Errorf(core.ErrUnauthenticated, "x")); !errors.Is(err, core.ErrUnauthenticated) {
		t.Errorf("unauthenticated became %v", err)
	}
}

func answer(a *API, k kind, err error) *httptest.ResponseRecorder {
	gin.SetMode(gin.TestMode)
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	c.Request = httptest.NewRequest("POST", "/", nil)
	c.Set(kindKey, k)
	a.fail(c, err)
	return rec
}
