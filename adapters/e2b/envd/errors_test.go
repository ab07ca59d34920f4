package envd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

func testAPI() *API {
	a := &API{log: slog.New(slog.DiscardHandler)}
	a.errorWriter = connect.NewErrorWriter(a.handlerOptions()...)
	return a
}

// Golden table: every error kind -> the exact answer of each protocol,
// written before a handler (fail) or returned by one (rpcError).
func TestErrorTable(t *testing.T) {
	t.Parallel()
	a := testAPI()
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
			if r := answer(a, "", tc.err); r.Code != tc.files || r.Body.String() != tc.filesBody {
				t.Errorf("/files: %d %s, want %d %s", r.Code, r.Body, tc.files, tc.filesBody)
			}
			if r := answer(a, "application/json", tc.err); r.Code != tc.unary || r.Body.String() != tc.rpcBody {
				t.Errorf("unary: %d %s, want %d %s", r.Code, r.Body, tc.unary, tc.rpcBody)
			}
			r := answer(a, "application/connect+json", tc.err)
			_, msgs := splitEnvelopes(t, r.Body.Bytes())
			if want := `{"error":` + tc.rpcBody + `}`; r.Code != 200 || len(msgs) != 1 || msgs[0] != want {
				t.Errorf("stream: %d %q, want 200 [%s]", r.Code, msgs, want)
			}
			err := a.rpcError(context.Background(), "/p.S/M", tc.err)
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code().String() != tc.code || ce.Message() != core.PublicMessage(tc.err) {
				t.Errorf("rpcError: %v, want %s", err, tc.code)
			}
		})
	}
	// Every core and edge kind is in the table.
	for _, k := range append(slices.Clone(core.Kinds), edge.Kinds...) {
		if _, ok := errorTable[k]; !ok {
			t.Errorf("kind %v has no entry", k)
		}
	}
}

// A handler that fails because its deadline passed answers
// deadline_exceeded, one whose client left is not logged as a failure, and
// connect-go's own errors pass unchanged.
func TestRPCErrorContext(t *testing.T) {
	t.Parallel()
	a := testAPI()
	late, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel()
	gone, leave := context.WithCancel(context.Background())
	leave()
	decode := connect.NewError(connect.CodeInvalidArgument, errors.New("unmarshal: bad"))
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want connect.Code
	}{
		{"deadline", late, errors.New("read: i/o timeout"), connect.CodeDeadlineExceeded},
		{"client left", gone, errors.New("write: broken pipe"), connect.CodeCanceled},
		{"connect error", context.Background(), decode, connect.CodeInvalidArgument},
		{"success", context.Background(), nil, 0},
	}
	for _, tc := range cases {
		err := a.rpcError(tc.ctx, "/p.S/M", tc.err)
		if got := connect.CodeOf(err); err != nil && got != tc.want || err == nil && tc.err != nil {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := a.rpcError(context.Background(), "/p.S/M", decode); err != decode {
		t.Errorf("a connect error became %v", err)
	}
}

// A sandbox that is not running is the gateway's 502 in every protocol:
// the SDKs read it as "not running" (TimeoutError, isRunning false).
func TestNotRunningIs502Everywhere(t *testing.T) {
	t.Parallel()
	a := testAPI()
	for _, cause := range []error{
		core.Errorf(core.ErrNotFound, "sandbox i1 is not running"),
		core.Errorf(core.ErrFailedPrecondition, "sandbox i1 is paused"),
	} {
		for _, ct := range []string{"", "application/json", "application/connect+json"} {
			r := answer(a, ct, gatewayError("i1", cause))
			if want := `{"code":502,"message":"The sandbox i1 is not running"}`; r.Code != 502 || r.Body.String() != want {
				t.Errorf("%q, %v: %d %s, want 502 %s", ct, cause, r.Code, r.Body, want)
			}
		}
	}
	// So is a sandbox whose node does not answer a forwarded call.
	for _, ct := range []string{"", "application/json", "application/connect+json"} {
		r := answer(a, ct, core.WithCause(edge.ErrBadGateway, errors.New("dial 10.0.0.2"), "retry shortly"))
		if want := `{"code":502,"message":"retry shortly"}`; r.Code != 502 || r.Body.String() != want {
			t.Errorf("%q, node gone: %d %s, want 502 %s", ct, r.Code, r.Body, want)
		}
	}
	// Other failures to open pass through.
	if err := gatewayError("i1", core.Errorf(core.ErrUnauthenticated, "x")); !errors.Is(err, core.ErrUnauthenticated) {
		t.Errorf("unauthenticated became %v", err)
	}
}

// answer is what fail writes for err on a plain route (contentType "") or
// an RPC called with contentType.
func answer(a *API, contentType string, err error) *httptest.ResponseRecorder {
	gin.SetMode(gin.TestMode)
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	c.Request = httptest.NewRequest("POST", "/", nil)
	if contentType != "" {
		c.Request.Header.Set("Content-Type", contentType)
		c.Set(rpcKey, true)
	}
	a.fail(c, err)
	return rec
}

// splitEnvelopes parses a streaming response body.
func splitEnvelopes(t *testing.T, b []byte) (flags []byte, msgs []string) {
	t.Helper()
	for len(b) > 0 {
		if len(b) < 5 {
			t.Fatalf("trailing %d bytes", len(b))
		}
		n := binary.BigEndian.Uint32(b[1:5])
		if uint32(len(b)-5) < n {
			t.Fatalf("envelope of %d bytes truncated", n)
		}
		flags = append(flags, b[0])
		msgs = append(msgs, string(bytes.TrimSpace(b[5:5+n])))
		b = b[5+n:]
	}
	return flags, msgs
}
