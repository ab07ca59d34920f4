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

// KindOf returns the kind of err, or nil when err is unclassified
// (internal). The kind is that of the outermost classified error in err's
// chain: a *Error (whose Kind may also be an adapter's own), else a kind
// wrapped with %w or an error whose Is method claims one (a
// *TransitionError). Causes are for logs only: WithCause(ErrUnavailable,
// <a NotFound>) is ErrUnavailable. Decide an error's kind with KindOf,
// not errors.Is, which also sees the kinds of causes.
func KindOf(err error) error {
	_, kind := outermost(err)
	return kind
}

// PublicMessage returns the client-safe text of err: the message of the
// outermost classified error (the one KindOf reads), or a generic text
// for internal errors.
func PublicMessage(err error) string {
	node, kind := outermost(err)
	if ce, ok := node.(*Error); ok {
		return ce.Message
	}
	if kind == nil {
		return "internal error"
	}
	if node == kind {
		return kind.Error()
	}
	return node.Error() // a *TransitionError, which names no internals
}

// outermost walks err's chain in the order errors.As does and returns the
// first classified error in it with its kind; nil, nil when there is none.
func outermost(err error) (node, kind error) {
	for err != nil {
		if ce, ok := err.(*Error); ok {
			return err, ce.Kind
		}
		if k := ownKind(err); k != nil {
			return err, k
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if node, kind := outermost(e); node != nil {
					return node, kind
				}
			}
			return nil, nil
		default:
			return nil, nil
		}
	}
	return nil, nil
}

// ownKind is the kind err itself is or claims, without unwrapping it.
func ownKind(err error) error {
	is, _ := err.(interface{ Is(error) bool })
	for _, k := range Kinds {
		if err == k || is != nil && is.Is(k) {
			return k
		}
	}
	return nil
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
