package e2b

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/snapgate/snapgate/adapters/e2b/api"
	"github.com/snapgate/snapgate/core"
)

// createSnapshot captures a sandbox into a persistent snapshot. A name
// already used gets a new snapshot that takes over its tag, as a repeated
// name is a new build of the same template in E2B.
func (a *API) createSnapshot(c *gin.Context) {
	var body api.SandboxSnapshotRequest
	if err := bindOptional(c, &body); err != nil {
		a.writeError(c, err)
		return
	}
	p, err := core.PrincipalFrom(ctx(c))
	if err != nil {
		a.writeError(c, err)
		return
	}
	name, tag, err := splitTag(deref(body.Name))
	if err != nil {
		a.writeError(c, err)
		return
	}
	snap, err := a.sandboxes.Capture(ctx(c), c.Param("sandboxID"), core.CaptureSnapshotRequest{
		Name: name, Namespaced: true, Tag: tag, Retag: true,
	})
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, toSnapshotInfo(p.TenantID, snap))
}

// tagRE is E2B's tag grammar, starting like a docker tag with a letter,
// digit or '_' (so never "." or ".."); a tag must also not parse as a UUID.
var tagRE = regexp.MustCompile(`^[a-z0-9_][a-z0-9_.-]{0,127}$`)

// splitTag splits E2B's "[namespace/]name[:tag]" into the name core checks
// (namespace included) and the tag, "default" when absent.
func splitTag(ref string) (name, tag string, err error) {
	ref = strings.ToLower(strings.TrimSpace(ref))
	name, tag = ref, defaultTag
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && i > strings.LastIndexByte(ref, '/') {
		name, tag = ref[:i], ref[i+1:]
		if name == "" {
			return "", "", core.Errorf(core.ErrInvalidArgument, "name %q has a tag but no name", ref)
		}
		if !tagRE.MatchString(tag) {
			return "", "", core.Errorf(core.ErrInvalidArgument, "name %q: tag %q is invalid: use lowercase letters, digits, '-', '_' and '.'", ref, tag)
		}
		if _, err := uuid.Parse(tag); err == nil {
			return "", "", core.Errorf(core.ErrInvalidArgument, "name %q: tag must not be a UUID", ref)
		}
	}
	return name, tag, nil
}
