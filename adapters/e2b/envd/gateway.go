package envd

import (
	"encoding/base64"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// envdPort is the port envd listens on in an E2B sandbox; the SDKs address
// it as E2b-Sandbox-Port or the first label of the host (49983-<id>.…).
const envdPort = "49983"

// gin context keys.
const (
	rpcKey     = "envd_rpc"
	sandboxKey = "sandbox"
)

func setRPC(rpc bool) gin.HandlerFunc {
	return func(c *gin.Context) { c.Set(rpcKey, rpc) }
}

// isRPC: the route is a Connect method whose errors are Connect errors.
func isRPC(c *gin.Context) bool { return c.GetBool(rpcKey) }

// route finds the sandbox a request is for: the E2b-Sandbox-Id header
// (E2B_SANDBOX_URL set: every sandbox shares snapgate's base URL), else a
// Host "49983-<id>.<domain>" (the SDKs' default envd address). Only envd's
// port is served: anything else is what E2B's gateway says of a closed port.
func (a *API) route(c *gin.Context) {
	id, port := c.GetHeader("E2b-Sandbox-Id"), c.GetHeader("E2b-Sandbox-Port")
	if id == "" {
		id, port = fromHost(c.Request.Host)
	}
	if id == "" && signed(c) {
		if id = a.signer(c); id == "" {
			return
		}
	}
	switch {
	case id == "":
		a.fail(c, core.Errorf(core.ErrInvalidArgument,
			"no sandbox named: send the E2b-Sandbox-Id header (E2B_SANDBOX_URL) or use the host %s-<sandboxID>.<domain>", envdPort))
	case port != "" && port != envdPort:
		a.fail(c, notRunning("port %s of sandbox %s is not served: only envd (%s) is", port, id, envdPort))
	default:
		c.Set(sandboxKey, id)
	}
}

// fromHost parses "<port>-<sandboxID>.<domain>[:port]".
func fromHost(host string) (id, port string) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	label, _, ok := strings.Cut(host, ".")
	if !ok {
		return "", ""
	}
	port, id, ok = strings.Cut(label, "-")
	if !ok || port == "" || strings.Trim(port, "0123456789") != "" {
		return "", ""
	}
	return id, port
}

// open authorizes the request for its sandbox with X-Access-Token. An
// unknown or paused sandbox is answered as E2B's gateway does (502), which
// the SDKs report as "sandbox not running".
func (a *API) open(c *gin.Context) {
	id := c.GetString(sandboxKey)
	if signed(c) {
		a.openSigned(c, id)
		return
	}
	token := c.GetHeader("X-Access-Token")
	t, err := a.dp.OpenByToken(ctx(c), id, token)
	if err != nil {
		a.refuse(c, id, err)
		return
	}
	a.opened(c, id, t)
}

// opened hands the opened sandbox to the handler in the request's context,
// where the Connect handlers find it.
func (a *API) opened(c *gin.Context, id string, t *core.Target) {
	c.Request = c.Request.WithContext(withCall(ctx(c), &call{requestID: edge.RequestID(c), sandbox: id, target: t}))
}

// refuse answers a request whose sandbox could not be opened. A refused
// token is answered as envd's auth middleware does, before any protocol:
// a plain 401 {"code","message"} on every route, Connect streams included
// (not a 200 whose end-stream carries the error); the SDKs read a 401 as
// an authentication error whatever the protocol.
func (a *API) refuse(c *gin.Context, id string, err error) {
	if core.KindOf(err) == core.ErrUnauthenticated {
		c.Set(rpcKey, false)
	}
	a.fail(c, gatewayError(id, err))
}

// openSigned authorizes a /files request made with a signed URL (the
// SDKs' uploadUrl/downloadUrl): core checks the v1 signature over path,
// operation, user and expiry against the sandbox's token.
func (a *API) openSigned(c *gin.Context, id string) {
	sig, err := signatureOf(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	t, err := a.dp.OpenBySignature(ctx(c), id, sig)
	if err != nil {
		a.refuse(c, id, err)
		return
	}
	a.opened(c, id, t)
}

// signed: a /files call made with a signed URL instead of the access
// token (the SDKs' uploadUrl/downloadUrl).
func signed(c *gin.Context) bool {
	return c.FullPath() == "/files" && c.Query("signature") != "" && c.GetHeader("X-Access-Token") == ""
}

// signer finds the sandbox a signed URL that names none is for (made
// with E2B_SANDBOX_URL, whose links carry no sandbox id): the one whose
// token made the signature (core searches). It names it in the
// E2b-Sandbox-Id header too, so the node holding it, if the call is
// forwarded there, need not search again. "" when none: answered.
func (a *API) signer(c *gin.Context) string {
	sig, err := signatureOf(c)
	if err != nil {
		a.fail(c, err)
		return ""
	}
	t, err := a.dp.SignedSandbox(ctx(c), sig)
	if err != nil {
		a.refuse(c, "", err)
		return ""
	}
	c.Request.Header.Set("E2b-Sandbox-Id", t.Sandbox.ID)
	return t.Sandbox.ID
}

// signatureOf reads a signed URL's grant from its query.
func signatureOf(c *gin.Context) (core.FileSignature, error) {
	op := "read"
	if c.Request.Method == http.MethodPost {
		op = "write"
	}
	sig := core.FileSignature{Path: c.Query("path"), Operation: op, User: c.Query("username"), Signature: c.Query("signature")}
	if exp := c.Query("signature_expiration"); exp != "" {
		n, err := strconv.ParseInt(exp, 10, 64)
		if err != nil {
			return sig, core.Errorf(core.ErrInvalidArgument, "signature_expiration must be a unix timestamp, got %q", exp)
		}
		sig.Expires = n
	}
	return sig, nil
}

// target is the sandbox the request was opened for.
func target(c *gin.Context) *core.Target { return callOf(ctx(c)).target }

// rpcUser returns the user a Connect RPC acts as: Authorization
// "Basic base64(<user>:)" (the SDKs send an empty password), "" when
// absent (core's default user).
func rpcUser(header http.Header) (string, error) {
	h := header.Get("Authorization")
	if h == "" {
		return "", nil
	}
	scheme, enc, _ := strings.Cut(h, " ")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if !strings.EqualFold(scheme, "basic") || err != nil {
		return "", core.Errorf(core.ErrUnauthenticated, "invalid username: Authorization must be Basic base64(\"<user>:\")")
	}
	user, _, _ := strings.Cut(string(raw), ":")
	return user, nil
}

// logAttrs are the request's ids for error logs (never the token).
func logAttrs(c *gin.Context) []any {
	return []any{"request_id", edge.RequestID(c), "sandbox", c.GetString(sandboxKey), "route", c.FullPath()}
}
