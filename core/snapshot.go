package core

import (
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SnapshotStatus is the lifecycle of a snapshot:
//
//	          build succeeds
//	building ───────────────▶ ready
//	    │
//	    └──── build fails ──▶ failed
//
// A snapshot is created in building with no owner. A build worker claims it
// (owner + claim expiry), pulls and unpacks the image, then moves it to ready
// or failed with a compare-and-set on the status. A claim that expires (its
// process died) is taken over by the next start-up or poll, so no snapshot
// stays building forever. Deleting removes the row at any status; a worker
// whose final compare-and-set finds no row removes what it pulled.
type SnapshotStatus string

const (
	SnapshotBuilding SnapshotStatus = "building"
	SnapshotReady    SnapshotStatus = "ready"
	SnapshotFailed   SnapshotStatus = "failed"
)

// snapshotTransitions is the single table of allowed status changes;
// finishSnapshot refuses any other before it writes.
var snapshotTransitions = map[SnapshotStatus][]SnapshotStatus{
	SnapshotBuilding: {SnapshotReady, SnapshotFailed},
}

// SnapshotPredecessors returns the statuses from which to may be reached.
func SnapshotPredecessors(to SnapshotStatus) []SnapshotStatus {
	return predecessors(snapshotTransitions, to)
}

// Snapshot is an immutable root filesystem image sandboxes start from.
type Snapshot struct {
	ID       string
	TenantID string
	// Name is unique per tenant and tag. Tag is E2B's build tag ("" when the
	// snapshot lost its tag to a newer build of the same name).
	Name            string
	Tag             string
	Status          SnapshotStatus
	StatusMessage   string
	DockerImage     string // the image reference the user asked for
	RegistryID      string
	ImageRef        string // the engine's name for the image (derived from ID)
	ImageDigest     string // manifest digest once ready
	RegistryRef     string // the snapshot registry's copy, "host/repo:tag@digest"; "" on a single node
	FSCapacityBytes int64
	FSUsedBytes     int64
	// MemorySnapshotSizeBytes is non-nil only for snapshots holding memory state.
	MemorySnapshotSizeBytes *int64
	SourceSandboxID         string
	// Description and Labels are the client's own words about the
	// snapshot (LangSmith), kept and returned as given.
	Description string
	Labels      map[string]string
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Build claim: which process works on it, and until when the claim holds.
	ClaimOwner   string
	ClaimExpires time.Time
}

// SnapshotFilter selects snapshots for listing.
type SnapshotFilter struct {
	NameContains    string // case-insensitive substring
	Name            string // exact name
	Tag             string // exact tag (with Name)
	SourceSandboxID string
	ImageDigest     string // exact manifest digest
	Limit           int
	Offset          int
}

// SnapshotResult is what a finished build records.
type SnapshotResult struct {
	Status        SnapshotStatus
	StatusMessage string
	ImageDigest   string
	FSUsedBytes   int64
	MemoryBytes   *int64
	RegistryRef   string // see Snapshot.RegistryRef
}

const (
	maxNameLen   = 255
	DefaultLimit = 50
	maxLimit     = 500
)

// Names are lowercase registry-style path components separated by '/'.
var nameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)

// ValidateName checks a snapshot name against the naming rule.
func ValidateName(field, name string) error {
	switch {
	case name == "":
		return Errorf(ErrInvalidArgument, "%s must not be empty", field)
	case len(name) > maxNameLen:
		return Errorf(ErrInvalidArgument, "%s must be at most %d characters, got %d", field, maxNameLen, len(name))
	case !nameRE.MatchString(name):
		return Errorf(ErrInvalidArgument, "%s %q is invalid: use lowercase letters, digits and '.', '_', '-' separators, with '/' between path components", field, name)
	}
	return nil
}

// Limits of metadata (E2B metadata, LangSmith labels).
const (
	maxMetadataEntries = 64
	maxMetadataKeyLen  = 256
	maxMetadataValLen  = 4096
)

// ValidateMetadata checks metadata: keys are printable UTF-8 without
// control or invisible format characters (NUL, newlines, zero-width
// spaces, bidi overrides that make a key read as another); values are the
// client's own text but hold no NUL (Postgres text cannot) and are valid
// UTF-8; sizes are bounded. ErrInvalidArgument.
func ValidateMetadata(field string, m map[string]string) error {
	if len(m) > maxMetadataEntries {
		return Errorf(ErrInvalidArgument, "%s has %d entries; at most %d are allowed", field, len(m), maxMetadataEntries)
	}
	for k, v := range m {
		switch {
		case k == "" || len(k) > maxMetadataKeyLen:
			return Errorf(ErrInvalidArgument, "%s keys must be 1 to %d bytes long", field, maxMetadataKeyLen)
		case len(v) > maxMetadataValLen:
			return Errorf(ErrInvalidArgument, "%s value of %q is longer than %d bytes", field, k, maxMetadataValLen)
		case !plainText(k):
			return Errorf(ErrInvalidArgument, "%s key %q holds invalid UTF-8, control or invisible characters", field, k)
		case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
			return Errorf(ErrInvalidArgument, "%s value of %q holds invalid UTF-8 or a NUL character", field, k)
		}
	}
	return nil
}

// ValidateEnv checks environment variables: a name is not empty and holds
// no '=' or NUL, a value holds no NUL (execve and Postgres cannot carry
// one). ErrInvalidArgument.
func ValidateEnv(field string, env map[string]string) error {
	for k, v := range env {
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00"):
			return Errorf(ErrInvalidArgument, "%s name %q is invalid: it must be non-empty without '=' or NUL", field, k)
		case strings.ContainsRune(v, 0) || !utf8.ValidString(k+v):
			return Errorf(ErrInvalidArgument, "%s value of %q holds a NUL character or invalid UTF-8", field, k)
		}
	}
	return nil
}

// plainText reports whether s is valid UTF-8 without control or format
// (Cf) characters.
func plainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}
