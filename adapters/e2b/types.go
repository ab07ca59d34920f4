package e2b

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// clientID is the constant E2B returns in the deprecated clientID field;
// Python's parser requires the key.
const clientID = "6532622b"

// sandboxJSON is E2B's Sandbox (create, connect and resume responses).
type sandboxJSON struct {
	SandboxID       string `json:"sandboxID"`
	TemplateID      string `json:"templateID"`
	ClientID        string `json:"clientID"`
	EnvdVersion     string `json:"envdVersion"`
	EnvdAccessToken string `json:"envdAccessToken"`
	Domain          string `json:"domain"`
	Alias           string `json:"alias,omitempty"`
}

// listedSandboxJSON is E2B's ListedSandbox; Python requires every key
// that is not omitempty here.
type listedSandboxJSON struct {
	SandboxID   string            `json:"sandboxID"`
	TemplateID  string            `json:"templateID"`
	Alias       string            `json:"alias,omitempty"`
	ClientID    string            `json:"clientID"`
	StartedAt   string            `json:"startedAt"`
	EndAt       string            `json:"endAt"`
	CPUCount    int               `json:"cpuCount"`
	MemoryMB    int64             `json:"memoryMB"`
	DiskSizeMB  int64             `json:"diskSizeMB"`
	EnvdVersion string            `json:"envdVersion"`
	State       string            `json:"state"`
	Metadata    map[string]string `json:"metadata"`
}

// sandboxDetailJSON is E2B's SandboxDetail (getInfo).
type sandboxDetailJSON struct {
	listedSandboxJSON
	EnvdAccessToken string        `json:"envdAccessToken"`
	Domain          string        `json:"domain"`
	Lifecycle       lifecycleJSON `json:"lifecycle"`
}

type lifecycleJSON struct {
	OnTimeout  string `json:"onTimeout"`
	AutoResume bool   `json:"autoResume"`
}

// snapshotInfoJSON is E2B's SnapshotInfo.
type snapshotInfoJSON struct {
	SnapshotID string   `json:"snapshotID"`
	Names      []string `json:"names"`
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// templateID is what the client asked for, or the snapshot id for a
// sandbox started through the other vendor's API.
func templateID(sb *core.Sandbox) string {
	if sb.TemplateRef != "" {
		return sb.TemplateRef
	}
	return sb.SnapshotID
}

// domain is the configured sandbox domain, or the Host the client used.
func (a *API) domainFor(c *gin.Context) string {
	if a.domain != "" {
		return a.domain
	}
	return c.Request.Host
}

func (a *API) toSandboxJSON(c *gin.Context, sb *core.Sandbox) sandboxJSON {
	return sandboxJSON{
		SandboxID: sb.ID, TemplateID: templateID(sb), ClientID: clientID,
		EnvdVersion: a.envdVersion, EnvdAccessToken: sb.AccessToken, Domain: a.domainFor(c),
	}
}

// noDeadline stands for "never expires" in endAt, which E2B requires.
var noDeadline = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

func (a *API) toListedJSON(sb *core.Sandbox) listedSandboxJSON {
	// E2B knows only running and paused; a sandbox still starting is
	// reported running (its create call has not returned yet).
	state := "running"
	if sb.State == core.SandboxPaused {
		state = "paused"
	}
	started := sb.StartedAt
	if started.IsZero() {
		started = sb.CreatedAt
	}
	// A paused sandbox has no deadline in core; E2B reports when it ended
	// running. A running one without a deadline never expires.
	end := sb.Deadline
	switch {
	case end.IsZero() && sb.State == core.SandboxPaused:
		end = sb.UpdatedAt
	case end.IsZero():
		end = noDeadline
	}
	meta := sb.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	return listedSandboxJSON{
		SandboxID: sb.ID, TemplateID: templateID(sb), ClientID: clientID,
		StartedAt: timestamp(started), EndAt: timestamp(end),
		CPUCount: sb.VCPUs, MemoryMB: sb.MemoryBytes >> 20, DiskSizeMB: sb.DiskBytes >> 20,
		EnvdVersion: a.envdVersion, State: state, Metadata: meta,
	}
}

func (a *API) toDetailJSON(c *gin.Context, sb *core.Sandbox) sandboxDetailJSON {
	onTimeout := string(core.TimeoutKill)
	if sb.OnTimeout == core.TimeoutPause {
		onTimeout = string(core.TimeoutPause)
	}
	return sandboxDetailJSON{
		listedSandboxJSON: a.toListedJSON(sb),
		EnvdAccessToken:   sb.AccessToken, Domain: a.domainFor(c),
		Lifecycle: lifecycleJSON{OnTimeout: onTimeout},
	}
}

// defaultTag is E2B's default template tag.
const defaultTag = "default"

// toSnapshotInfo renders a snapshot as E2B names it: a named snapshot is
// "<namespace>/<name>:<tag>" with the tenant as namespace, an unnamed one
// (its name is its id) "<id>:default". Every form resolves back to the
// same snapshot through core's Lookup.
func toSnapshotInfo(tenant string, s *core.Snapshot) snapshotInfoJSON {
	if s.Name == s.ID {
		return snapshotInfoJSON{SnapshotID: s.ID + ":" + defaultTag, Names: []string{}}
	}
	full := strings.ToLower(tenant) + "/" + s.Name
	if s.Tag == "" {
		// The name's tag moved to a newer build; this build is reachable
		// by id only.
		return snapshotInfoJSON{SnapshotID: s.ID + ":" + defaultTag, Names: []string{full}}
	}
	return snapshotInfoJSON{SnapshotID: full + ":" + s.Tag, Names: []string{full}}
}

// bind decodes a required JSON body. Validation has already checked its
// shape; this still refuses what it cannot decode when validation is off.
func bind(c *gin.Context, v any) error {
	if err := json.NewDecoder(c.Request.Body).Decode(v); err != nil {
		return core.WithCause(core.ErrInvalidArgument, err, "request body is not valid JSON for this operation: %v", err)
	}
	return nil
}

// bindOptional decodes a JSON body that may be absent (the SDKs send {}
// but other clients may send nothing).
func bindOptional(c *gin.Context, v any) error {
	err := json.NewDecoder(c.Request.Body).Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	return core.WithCause(core.ErrInvalidArgument, err, "request body is not valid JSON for this operation: %v", err)
}

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

var errTimeoutRequired = core.Errorf(core.ErrInvalidArgument, "timeout is required")
