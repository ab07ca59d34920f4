package core

import (
	"regexp"
	"strings"

	"github.com/google/uuid"
)

// SnapshotRef is a reference to a snapshot as both vendors' clients write
// one: a snapshot id or a name, either with an optional ":tag". A name may
// start with a namespace, "namespace/name", as E2B writes its team's
// templates; LangSmith names have none, but may hold '/' themselves.
type SnapshotRef struct {
	ID   string // set when the reference is a snapshot id (a UUID); Name is then empty
	Name string // otherwise the name as written, namespace included
	Tag  string // "" when the reference gives none
}

// tagRE is the tag grammar: a docker tag, lowercase, starting with a letter,
// digit or '_' (so never "." or ".."). A tag must not be a UUID either.
var tagRE = regexp.MustCompile(`^[a-z0-9_][a-z0-9_.-]{0,127}$`)

// ParseSnapshotRef is the one grammar of snapshot references, for lookups
// (LangSmith ids and names, E2B template ids "<id>:default" and names
// "namespace/alias:tag") and for E2B's names of new snapshots alike. It is
// case-insensitive and ignores surrounding space. The tag is what follows
// the last ':' after the last '/'. An empty ref is the zero SnapshotRef.
// ErrInvalidArgument for a tag without a name or one that breaks tagRE or
// is a UUID. The name is not checked here (ValidateName, where it is used):
// a namespace is a tenant id, which need not be a valid name.
func ParseSnapshotRef(ref string) (SnapshotRef, error) {
	s := strings.ToLower(strings.TrimSpace(ref))
	var r SnapshotRef
	if i := strings.LastIndexByte(s, ':'); i >= 0 && i > strings.LastIndexByte(s, '/') {
		s, r.Tag = s[:i], s[i+1:]
		switch {
		case s == "":
			return SnapshotRef{}, Errorf(ErrInvalidArgument, "snapshot reference %q has a tag but no name", ref)
		case !tagRE.MatchString(r.Tag):
			return SnapshotRef{}, Errorf(ErrInvalidArgument, "snapshot reference %q: tag %q is invalid: use at most 128 lowercase letters, digits, '-', '_' and '.', starting with a letter, digit or '_'", ref, r.Tag)
		case isUUID(r.Tag):
			return SnapshotRef{}, Errorf(ErrInvalidArgument, "snapshot reference %q: a tag must not be a UUID", ref)
		}
	}
	if isUUID(s) {
		r.ID = s
	} else {
		r.Name = s
	}
	return r, nil
}

func isUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil
}

// Namespace splits the name as E2B writes one, namespace/name: what comes
// before its first '/' and the rest; "" and the whole name without a '/'.
func (r SnapshotRef) Namespace() (namespace, name string) {
	if ns, rest, ok := strings.Cut(r.Name, "/"); ok {
		return ns, rest
	}
	return "", r.Name
}

// TeamNamespace is the namespace of tenant's names in E2B references: the
// tenant id, lowercased (references are compared lowercased).
func TeamNamespace(tenantID string) string { return strings.ToLower(tenantID) }
