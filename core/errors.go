package core

import (
	"errors"
	"fmt"
)

// Error kinds. Every error that leaves core (and every port implementation)
// matches exactly one of these with errors.Is, or is internal. Adapters map
// kinds to vendor status codes and bodies in one table each.
var (
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrResourceExhausted  = errors.New("resource exhausted")
	ErrUnavailable        = errors.New("unavailable")
	ErrUnauthenticated    = errors.New("unauthenticated")
	ErrPermissionDenied   = errors.New("permission denied")
)

// Error is a classified error with a message that is safe to show a client.
// The cause (which may name hosts, paths or internals) goes to logs only.
type Error struct {
	Kind    error  // one of the Err* kinds above
	Message string // client-safe text
	Cause   error  // optional, for logs
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Cause)
	}
	return e.Message
}

func (e *Error) Is(target error) bool { return target == e.Kind }

func (e *Error) Unwrap() error { return e.Cause }

// Errorf builds a classified error whose message is shown to clients.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// WithCause attaches a log-only cause to a classified error.
func WithCause(kind error, cause error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// Kinds lists every error kind, for adapters' exhaustive mapping tables.
var Kinds = []error{
	ErrInvalidArgument, ErrNotFound, ErrAlreadyExists, ErrFailedPrecondition,
	ErrResourceExhausted, ErrUnavailable, ErrUnauthenticated, ErrPermissionDenied,
}

// KindOf returns the kind of err, or nil when err is unclassified (internal).
func KindOf(err error) error {
	for _, k := range Kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// PublicMessage returns the client-safe text of err: the message of the
// outermost classified error, or a generic text for internal errors.
func PublicMessage(err error) string {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Message
	}
	var te *TransitionError
	if errors.As(err, &te) {
		return te.Error()
	}
	if k := KindOf(err); k != nil {
		return k.Error()
	}
	return "internal error"
}

// TransitionError reports an illegal state change. It matches
// ErrFailedPrecondition.
type TransitionError struct {
	Resource string
	From, To string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("%s cannot go from %q to %q", e.Resource, e.From, e.To)
}

func (e *TransitionError) Is(target error) bool { return target == ErrFailedPrecondition }
