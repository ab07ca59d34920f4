package langsmith

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

// generateServiceURL mints a token for a port of a box (POST
// /boxes/{box_name}/service-url): the SDKs' serviceUrl / service.
func (a *API) generateServiceURL(c *gin.Context) {
	var body api.SandboxesServiceURLPayload
	if err := bind(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	if err := serviceURLUnsupported(body); err != nil {
		a.writeError(c, err)
		return
	}
	ttl := time.Duration(deref(body.ExpiresInSeconds)) * time.Second
	if body.ExpiresInSeconds != nil && ttl == 0 {
		// 0 is not "the default": the spec's minimum refuses it too.
		a.writeError(c, core.Errorf(core.ErrInvalidArgument, "expires_in_seconds: 0 is not between 1 and 86400"))
		return
	}
	tok, err := a.serviceURLs.Issue(ctx(c), c.Param("box_name"), body.Port, ttl)
	if err != nil {
		a.writeError(c, err)
		return
	}
	svc := a.serviceURL(c, tok.Sandbox.ID, body.Port)
	c.JSON(http.StatusOK, api.SandboxesServiceURLResponse{
		ServiceUrl: svc,
		BrowserUrl: svc + "?" + url.Values{serviceTokenQuery: {tok.Token}}.Encode(),
		Token:      tok.Token,
		ExpiresAt:  tok.ExpiresAt.UTC(),
	})
}

// serviceURLUnsupported refuses LangSmith login and iframe embedding
// rather than mint a token the caller did not ask for: snapgate has no
// LangSmith users to log in, and serves no embed page. access "off" asks
// for token mode, which is what is served.
func serviceURLUnsupported(body api.SandboxesServiceURLPayload) error {
	switch {
	case body.Access != nil && *body.Access != api.SandboxesServiceURLPayloadAccessOff:
		return core.Errorf(core.ErrInvalidArgument, "access: LangSmith login (%q) is not supported; omit access for a token", *body.Access)
	case body.EmbedOrigins != nil && len(*body.EmbedOrigins) > 0:
		return core.Errorf(core.ErrInvalidArgument, "embed_origins: embedding service URLs in iframes is not supported")
	}
	return nil
}

// serviceURL is the base URL of port of box id through snapgate's proxy
// (servicePrefix); it ends in '/', as the service's root is "/".
func (a *API) serviceURL(c *gin.Context, id string, port int) string {
	return a.baseURL(c) + "/service/" + id + "/" + strconv.Itoa(port) + "/"
}

// listServiceURLs pages over a box's shared ports (GET
// /boxes/{box_name}/service-urls, Stainless's listServiceURLs). A box has
// few, so they are paged in memory.
func (a *API) listServiceURLs(c *gin.Context) {
	limit, offset, err := listParams(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	if limit == 0 {
		limit = core.DefaultLimit
	}
	grants, err := a.serviceURLs.List(ctx(c), c.Param("box_name"))
	if err != nil {
		a.writeError(c, err)
		return
	}
	items := []api.SandboxesServiceURLEntry{}
	for _, g := range grants[min(offset, len(grants)):min(len(grants), offset+limit)] {
		exp := g.ExpiresAt.UTC()
		items = append(items, api.SandboxesServiceURLEntry{
			Access: api.SandboxesServiceURLEntryAccessToken, Port: g.Port, CreatedAt: g.CreatedAt.UTC(), ExpiresAt: &exp,
		})
	}
	var cursor *string
	if next := offset + len(items); len(items) == limit && next < len(grants) {
		s := strconv.Itoa(next)
		cursor = &s
	}
	c.JSON(http.StatusOK, api.SandboxesServiceURLList{Items: items, NextCursor: cursor})
}

// deleteServiceURL stops sharing a port, or every port without ?port
// (DELETE /boxes/{box_name}/service-urls). Unlike hosted LangSmith, whose
// minted tokens outlive the grant, every token of the port stops working
// at once: a delete is how a leaked token is revoked.
func (a *API) deleteServiceURL(c *gin.Context) {
	port := 0
	if v := c.Query("port"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			a.writeError(c, core.Errorf(core.ErrInvalidArgument, "port: %q is not an integer", v))
			return
		}
		port = n
	}
	if err := a.serviceURLs.Revoke(ctx(c), c.Param("box_name"), port); err != nil {
		a.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
