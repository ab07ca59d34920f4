package core

import (
	"strings"
	"unicode/utf8"
)

// DefaultTag is the tag a LangSmith snapshot holds unless another is given.
const DefaultTag = "latest"

const maxDescriptionLen = 1024

// validateSnapshotAttrs checks what a client may say about a new snapshot
// besides its name: tag ("" for none), description and labels.
// ErrInvalidArgument.
func validateSnapshotAttrs(tag, description string, labels map[string]string) error {
	if tag != "" && (!tagRE.MatchString(tag) || isUUID(tag)) {
		return Errorf(ErrInvalidArgument, "tag %q is invalid: use up to 128 lowercase letters, digits, '_', '.' and '-', not starting with '.' or '-', and not a UUID", tag)
	}
	if utf8.RuneCountInString(description) > maxDescriptionLen || !utf8.ValidString(description) || strings.ContainsRune(description, 0) {
		return Errorf(ErrInvalidArgument, "description must be valid UTF-8 without NUL characters, at most %d characters", maxDescriptionLen)
	}
	return ValidateMetadata("labels", labels)
}
