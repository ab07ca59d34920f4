package ports

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// Kinds of this adapter's own failures, beside core's.
var (
	// errBadRoute: the host or routing headers name no sandbox port.
	errBadRoute = errors.New("bad route")
	// errPortClosed: the sandbox runs but nothing answers on the port.
	errPortClosed = errors.New("port closed")
)

func badRoute(msg string) error { return &core.Error{Kind: errBadRoute, Message: msg} }

func portClosed(port int, cause error) error {
	return &core.Error{Kind: errPortClosed, Message: fmt.Sprintf("nothing answers on port %d", port), Cause: cause}
}

// page is the body of one answer of E2B's proxy: JSON for programs, an
// HTML page for a browser. The JSON keys are E2B's.
type page struct {
	SandboxID string `json:"sandboxId"`
	Message   string `json:"message"`
	Port      int    `json:"port,omitempty"`
	Code      int    `json:"code"`
}

// writeError answers err as E2B's proxy does: 400 plain text for a bad
// host or headers; 502 "sandbox not found" for a sandbox that is not
// running (unknown, paused, gone: what envd's gateway answers too); 403
// for a missing or wrong traffic token; 502 "port is not open" when
// nothing answers on the port; 502 plain text when the node holding the
// sandbox did not answer.
func (a *API) writeError(c *gin.Context, err error) {
	id, port := c.GetString(sandboxKey), c.GetInt(portKey)
	switch core.KindOf(err) {
	case errBadRoute:
		c.Header("Content-Type", "text/plain; charset=utf-8")
		c.AbortWithStatus(http.StatusBadRequest)
		_, _ = c.Writer.WriteString(core.PublicMessage(err) + "\n")
	case core.ErrNotFound, core.ErrFailedPrecondition:
		a.writePage(c, page{SandboxID: id, Message: "The sandbox was not found", Code: http.StatusBadGateway})
	case core.ErrPermissionDenied:
		msg := fmt.Sprintf("Sandbox is secured with traffic access token. Provided token in header '%s' is invalid", headerToken)
		if c.GetHeader(headerToken) == "" {
			msg = fmt.Sprintf("Sandbox is secured with traffic access token. Token header '%s' is missing", headerToken)
		}
		a.writePage(c, page{SandboxID: id, Message: msg, Code: http.StatusForbidden})
	case errPortClosed:
		a.log.DebugContext(ctx(c), "port closed", "request_id", edge.RequestID(c), "sandbox", id, "port", port, "err", err)
		a.writePage(c, page{SandboxID: id, Message: "The sandbox is running but port is not open", Port: port, Code: http.StatusBadGateway})
	case edge.ErrBadGateway:
		a.log.ErrorContext(ctx(c), "port request failed", "request_id", edge.RequestID(c), "sandbox", id, "err", err)
		c.String(http.StatusBadGateway, "Failed to route request to sandbox\n")
		c.Abort()
	default:
		a.log.ErrorContext(ctx(c), "port request failed", "request_id", edge.RequestID(c), "sandbox", id, "err", err)
		c.String(http.StatusInternalServerError, "Unexpected error when routing request\n")
		c.Abort()
	}
}

func (a *API) writePage(c *gin.Context, p page) {
	defer c.Abort()
	if !wantsHTML(c.Request) {
		c.Header("Content-Type", "application/json; charset=utf-8")
		c.Status(p.Code)
		_ = json.NewEncoder(c.Writer).Encode(p)
		return
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(p.Code)
	_ = pageHTML.Execute(c.Writer, p)
}

var pageHTML = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Code}}: {{.Message}}</title></head>
<body><h1>{{.Message}}</h1><p>Sandbox <code>{{.SandboxID}}</code>{{if .Port}}, port {{.Port}}{{end}}.</p></body></html>
`))

var browserUA = regexp.MustCompile(`(?i)mozilla|chrome|safari|firefox|edge|opera|msie`)

// wantsHTML is E2B's choice of an HTML page: a browser navigating there,
// not a script asking for JSON.
func wantsHTML(r *http.Request) bool {
	accept := strings.ToLower(r.Header.Get("Accept"))
	if strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html") {
		return false
	}
	switch strings.ToLower(r.Header.Get("Sec-Fetch-Mode")) {
	case "cors", "no-cors", "same-origin", "websocket":
		return false
	case "navigate":
		return browserUA.MatchString(r.UserAgent())
	}
	if r.Header.Get("X-Requested-With") != "" {
		return false
	}
	return browserUA.MatchString(r.UserAgent())
}
