package core

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// SandboxState is the lifecycle of a sandbox (a running container started
// from a snapshot):
//
//	starting ──▶ running ◀──▶ paused
//	   │            │            │
//	   └─▶ failed   └──▶ killed ◀┘
//
// starting: row written, container being created. running: its task runs.
// paused: its task is frozen (E2B pause, LangSmith stop). killed and failed
// are terminal: the container is gone, the row stays for the record and
// reads as not found. A sandbox is reported running only after its task
// started, and every change is a compare-and-set on the state.
type SandboxState string

const (
	SandboxStarting SandboxState = "starting"
	SandboxRunning  SandboxState = "running"
	SandboxPaused   SandboxState = "paused"
	SandboxKilled   SandboxState = "killed"
	SandboxFailed   SandboxState = "failed"
)

// sandboxTransitions is the single table of allowed state changes;
// transitionSandbox refuses any other before it writes.
var sandboxTransitions = map[SandboxState][]SandboxState{
	SandboxStarting: {SandboxRunning, SandboxFailed, SandboxKilled},
	SandboxRunning:  {SandboxPaused, SandboxKilled, SandboxFailed},
	SandboxPaused:   {SandboxRunning, SandboxKilled, SandboxFailed},
}

// SandboxPredecessors returns the states from which to may be reached.
func SandboxPredecessors(to SandboxState) []SandboxState {
	return predecessors(sandboxTransitions, to)
}

// Live reports whether a sandbox in state s exists for clients.
func (s SandboxState) Live() bool {
	return s == SandboxStarting || s == SandboxRunning || s == SandboxPaused
}

// TimeoutAction says what happens to a sandbox when its timeout passes.
type TimeoutAction string

const (
	TimeoutKill  TimeoutAction = "kill"
	TimeoutPause TimeoutAction = "pause"
)

// Sandbox is a container started from a snapshot.
type Sandbox struct {
	ID            string // [a-z0-9]: E2B routes by it inside host names
	TenantID      string
	Name          string // unique per tenant among live sandboxes; LangSmith addresses boxes by it
	SnapshotID    string
	TemplateRef   string // what the client asked for (E2B templateID)
	State         SandboxState
	StatusMessage string
	VCPUs         int
	MemoryBytes   int64
	DiskBytes     int64
	Env           map[string]string
	Metadata      map[string]string
	OnTimeout     TimeoutAction
	// Deadline is when the timeout action runs; zero means never.
	Deadline time.Time
	// IdleTTL, when > 0, pauses a running sandbox that long after it was
	// started, resumed or given the TTL (LangSmith's idle_ttl_seconds; there
	// is no activity tracking, so it is a TTL re-armed on every start).
	// DeleteAfterStop, when > 0, kills a paused sandbox that long after it
	// was paused (LangSmith's delete_after_stop_seconds). Both work through
	// Deadline and OnTimeout.
	IdleTTL         time.Duration
	DeleteAfterStop time.Duration
	// AccessToken authorizes dataplane calls into this sandbox. It stays the
	// same across pause and resume, as the SDKs expect, and across secret
	// key rotation: it is random and sealed at rest (a Sealer), not derived
	// from the key, so rotating the key does not break running clients.
	AccessToken string
	// Network is the sandbox's egress policy and who may reach its ports.
	Network   NetworkPolicy
	Node      string
	StartedAt time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SandboxFilter selects sandboxes for listing.
type SandboxFilter struct {
	States   []SandboxState // empty: every live state
	Metadata map[string]string
	// MetadataKeys keeps sandboxes whose metadata has every one of these
	// keys, whatever their values (LangSmith's label=key).
	MetadataKeys []string
	// Template, when set, keeps sandboxes started from the snapshot it
	// names (an id or [namespace/]name[:tag], resolved as create resolves
	// it). Sandboxes.List turns it into SnapshotID; stores read only that.
	Template   string
	SnapshotID string
	// StartedAfter, when set, keeps sandboxes whose task started strictly
	// after it; one still starting counts from its creation.
	StartedAfter time.Time
	// Sort is the listing's order, then (CreatedAt, ID) among equals;
	// Ascending turns all of it around from the default descending
	// (newest first).
	Sort      SandboxSort
	Ascending bool
	Limit     int
	// After continues a listing sorted by creation: sandboxes strictly
	// past this (CreatedAt, ID) pair in the listing's order.
	AfterCreated time.Time
	AfterID      string
}

// SandboxSort is what a sandbox listing is ordered by.
type SandboxSort string

const (
	SortCreated SandboxSort = "" // the default
	SortName    SandboxSort = "name"
	// SortState orders by lifecycle: starting, running, paused.
	SortState SandboxSort = "state"
	// SortPaused orders by when a paused sandbox was paused; the others,
	// which have no such time, come last either way.
	SortPaused          SandboxSort = "paused"
	SortIdleTTL         SandboxSort = "idle_ttl"
	SortDeleteAfterStop SandboxSort = "delete_after_stop"
)

// Known reports whether s is one of the sorts above.
func (s SandboxSort) Known() bool {
	switch s {
	case SortCreated, SortName, SortState, SortPaused, SortIdleTTL, SortDeleteAfterStop:
		return true
	}
	return false
}

// SandboxChange is what a state transition writes besides the state.
type SandboxChange struct {
	StatusMessage *string
	Deadline      *time.Time
	StartedAt     *time.Time
}

// NewSandboxID returns "i" + 20 characters of [a-z0-9], E2B's shape. The
// engine names the sandboxes it prepares ahead of demand with it too.
func NewSandboxID() (string, error) {
	return randomAlnum("i", 20)
}

// newAccessToken returns a random dataplane token.
func newAccessToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

func randomAlnum(prefix string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	out := []byte(prefix)
	for _, c := range b {
		out = append(out, alnum[int(c)%len(alnum)])
	}
	return string(out), nil
}
