package e2b

import (
	"math"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/e2b/api"
	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
)

// clientID is the constant E2B returns in the deprecated clientID field;
// Python's parser requires the key.
const clientID = "6532622b"

// templateID is what the client asked for, or the snapshot id for a
// sandbox started through the other vendor's API.
func templateID(sb *core.Sandbox) string {
	if sb.TemplateRef != "" {
		return sb.TemplateRef
	}
	return sb.SnapshotID
}

// domainFor is the domain the SDKs build sandbox hosts under (core's
// rule: the configured one, else the Host the client used).
func (a *API) domainFor(c *gin.Context) string {
	return core.SandboxDomain(a.domain, c.Request.Host)
}

func (a *API) toSandbox(c *gin.Context, sb *core.Sandbox) api.Sandbox {
	domain := a.domainFor(c)
	return api.Sandbox{
		SandboxID: sb.ID, TemplateID: templateID(sb), ClientID: clientID,
		EnvdVersion: a.envdVersion, EnvdAccessToken: &sb.AccessToken, Domain: &domain,
		TrafficAccessToken: trafficToken(sb),
	}
}

// noDeadline stands for "never expires" in endAt, which E2B requires.
var noDeadline = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

func (a *API) toListed(sb *core.Sandbox) api.ListedSandbox {
	// E2B knows only running and paused; a sandbox still starting is
	// reported running (its create call has not returned yet).
	state := api.Running
	if sb.State == core.SandboxPaused {
		state = api.Paused
	}
	started := sb.StartedAt
	if started.IsZero() {
		started = sb.CreatedAt
	}
	// A paused sandbox without a deadline reports when it ended running;
	// a running one without a deadline never expires.
	end := sb.Deadline
	switch {
	case end.IsZero() && sb.State == core.SandboxPaused:
		end = sb.UpdatedAt
	case end.IsZero():
		end = noDeadline
	}
	meta := api.Metadata(sb.Metadata)
	if meta == nil {
		meta = api.Metadata{}
	}
	return api.ListedSandbox{
		SandboxID: sb.ID, TemplateID: templateID(sb), ClientID: clientID,
		StartedAt: started.UTC(), EndAt: end.UTC(),
		CpuCount: int32(sb.VCPUs), MemoryMB: megabytes(sb.MemoryBytes), DiskSizeMB: megabytes(sb.DiskBytes),
		EnvdVersion: a.envdVersion, State: state, Metadata: &meta,
	}
}

// megabytes is a byte count in MiB, saturating at int32 (a petabyte disk
// is not a wire error).
func megabytes(n int64) int32 {
	return int32(min(n>>20, math.MaxInt32))
}

func (a *API) toDetail(c *gin.Context, sb *core.Sandbox) api.SandboxDetail {
	onTimeout := api.Kill
	if sb.OnTimeout == core.TimeoutPause {
		onTimeout = api.Pause
	}
	l, domain := a.toListed(sb), a.domainFor(c)
	internet := sb.Network.InternetAccess()
	return api.SandboxDetail{
		SandboxID: l.SandboxID, TemplateID: l.TemplateID, Alias: l.Alias, ClientID: l.ClientID,
		StartedAt: l.StartedAt, EndAt: l.EndAt, CpuCount: l.CpuCount, MemoryMB: l.MemoryMB, DiskSizeMB: l.DiskSizeMB,
		EnvdVersion: l.EnvdVersion, State: l.State, Metadata: l.Metadata,
		EnvdAccessToken: &sb.AccessToken, Domain: &domain,
		Lifecycle:           &api.SandboxLifecycle{OnTimeout: onTimeout},
		AllowInternetAccess: &internet, Network: networkConfig(sb.Network),
	}
}

// defaultTag is E2B's default template tag.
const defaultTag = "default"

// toSnapshotInfo renders a snapshot as E2B names it: a named snapshot is
// "<namespace>/<name>:<tag>" with the tenant as namespace, an unnamed one
// (its name is its id) "<id>:default". Every form resolves back to the
// same snapshot through core's Lookup.
func toSnapshotInfo(tenant string, s *core.Snapshot) api.SnapshotInfo {
	if s.Name == s.ID {
		return api.SnapshotInfo{SnapshotID: s.ID + ":" + defaultTag, Names: []string{}}
	}
	full := strings.ToLower(tenant) + "/" + s.Name
	if s.Tag == "" {
		// The name's tag moved to a newer build; this build is reachable
		// by id only.
		return api.SnapshotInfo{SnapshotID: s.ID + ":" + defaultTag, Names: []string{full}}
	}
	return api.SnapshotInfo{SnapshotID: full + ":" + s.Tag, Names: []string{full}}
}

// bind decodes a required JSON body (edge.Bind).
func bind(c *gin.Context, v any) error { return edge.Bind(c, v, false) }

// bindOptional decodes a JSON body that may be absent (the SDKs send {}
// but other clients may send nothing).
func bindOptional(c *gin.Context, v any) error { return edge.Bind(c, v, true) }

// timeoutOr converts an E2B timeout (seconds) to a duration, def when
// absent. E2B has no "never expires": 0 is refused, as infra does (the
// spec only bounds it to 0..86400 so the message names the rule).
func timeoutOr(t *int32, def time.Duration) (time.Duration, error) {
	if t == nil {
		return def, nil
	}
	if *t <= 0 {
		return 0, core.Errorf(core.ErrInvalidArgument, "timeout must be at least 1 second, got %d", *t)
	}
	return time.Duration(*t) * time.Second, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
