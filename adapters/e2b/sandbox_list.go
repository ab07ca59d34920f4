package e2b

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/e2b/api"
	"github.com/snapgate/snapgate/core"
)

// maxPage is E2B's page size limit and default.
const maxPage = 100

// listSandboxes is GET /v2/sandboxes: running and paused sandboxes, newest
// first (oldest with order=asc), with the next page's cursor in
// X-Next-Token. The cursor is the last row's (created, id) either way: the
// store continues past it in the listing's order.
func (a *API) listSandboxes(c *gin.Context) {
	f, err := sandboxFilter(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	limit := f.Limit
	f.Limit++ // one more tells whether a next page exists
	boxes, err := a.sandboxes.List(ctx(c), f)
	if err != nil {
		a.writeError(c, err)
		return
	}
	if len(boxes) > limit {
		boxes = boxes[:limit]
		last := boxes[limit-1]
		c.Header("X-Next-Token", encodeSandboxToken(last.CreatedAt, last.ID))
	}
	out := make([]api.ListedSandbox, 0, len(boxes))
	for _, sb := range boxes {
		out = append(out, a.toListed(sb))
	}
	c.JSON(http.StatusOK, out)
}

func sandboxFilter(c *gin.Context) (core.SandboxFilter, error) {
	var f core.SandboxFilter
	var asc bool
	switch c.Query("order") {
	case "", "desc":
	case "asc":
		asc = true
	default:
		return f, core.Errorf(core.ErrInvalidArgument, "query parameter \"order\" must be asc or desc, got %q", c.Query("order"))
	}
	after, err := startedAfter(c.Query("startedAfter"))
	if err != nil {
		return f, err
	}
	states, err := parseStates(c.QueryArray("state"))
	if err != nil {
		return f, err
	}
	meta, err := parseMetadataQuery(c.Query("metadata"))
	if err != nil {
		return f, err
	}
	limit, err := pageLimit(c.Query("limit"))
	if err != nil {
		return f, err
	}
	f = core.SandboxFilter{
		States: states, Metadata: meta, Limit: limit,
		Template: c.Query("template"), StartedAfter: after, Ascending: asc,
	}
	if tok := c.Query("nextToken"); tok != "" {
		if f.AfterCreated, f.AfterID, err = decodeSandboxToken(tok); err != nil {
			return f, err
		}
	}
	return f, nil
}

// startedAfter reads startedAfter, an RFC 3339 time as the spec's
// date-time has it (JS sends Date.toISOString()).
func startedAfter(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, core.Errorf(core.ErrInvalidArgument, "query parameter \"startedAfter\" must be an RFC 3339 time, got %q", v)
	}
	return t, nil
}

// parseStates reads state as the SDKs send it, comma-joined
// ("running,paused"), also accepting repeated parameters. None means both:
// E2B never reports a sandbox that is still starting.
func parseStates(values []string) ([]core.SandboxState, error) {
	var states []core.SandboxState
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			switch st := core.SandboxState(strings.TrimSpace(s)); st {
			case core.SandboxRunning, core.SandboxPaused:
				states = append(states, st)
			default:
				return nil, core.Errorf(core.ErrInvalidArgument, "query parameter \"state\": %q is not running or paused", s)
			}
		}
	}
	if len(states) == 0 {
		states = []core.SandboxState{core.SandboxRunning, core.SandboxPaused}
	}
	return states, nil
}

// parseMetadataQuery decodes the SDKs' metadata filter. They encode each
// key and value, join them as "k=v&k2=v2", and the whole string is
// encoded again as the query value (JS sends metadata=a%3Db%252520c for
// {a: "b c"}). gin has undone the outer encoding; as infra does, unescape
// once more, split, and unescape each key and value.
func parseMetadataQuery(raw string) (map[string]string, error) {
	if raw == "" {
		return nil, nil
	}
	bad := func(err error) error {
		return core.WithCause(core.ErrInvalidArgument, err, "query parameter \"metadata\" is not an encoded k=v&k2=v2 list")
	}
	joined, err := url.QueryUnescape(raw)
	if err != nil {
		return nil, bad(err)
	}
	out := map[string]string{}
	for _, pair := range strings.Split(joined, "&") {
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, bad(nil)
		}
		if k, err = url.QueryUnescape(k); err != nil {
			return nil, bad(err)
		}
		if v, err = url.QueryUnescape(v); err != nil {
			return nil, bad(err)
		}
		out[k] = v
	}
	return out, nil
}

// pageLimit reads limit, default and maximum maxPage.
func pageLimit(v string) (int, error) {
	if v == "" {
		return maxPage, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPage {
		return 0, core.Errorf(core.ErrInvalidArgument, "query parameter \"limit\" must be an integer from 1 to %d, got %q", maxPage, v)
	}
	return n, nil
}

// Sandbox list cursors are infra's: URL-safe base64 of
// "<created RFC3339Nano>__<id>", opaque to the SDKs.
const tokenSep = "__"

func encodeSandboxToken(created time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(created.UTC().Format(time.RFC3339Nano) + tokenSep + id))
}

func decodeSandboxToken(tok string) (time.Time, string, error) {
	bad := core.Errorf(core.ErrInvalidArgument, "query parameter \"nextToken\" is not a token this server issued")
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok, "="))
	if err != nil {
		return time.Time{}, "", bad
	}
	ts, id, ok := strings.Cut(string(raw), tokenSep)
	if !ok || id == "" {
		return time.Time{}, "", bad
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, "", bad
	}
	return t, id, nil
}
