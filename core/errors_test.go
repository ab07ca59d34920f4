package core_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/snapgate/snapgate/core"
)

// TestKindOfOutermostClassifiedErrorWins pins the rule adapters answer by:
// the kind (and message) of an error is its outermost classified error's;
// a cause's kind counts only when nothing outside it is classified.
func TestKindOfOutermostClassifiedErrorWins(t *testing.T) {
	t.Parallel()
	notFound := core.Errorf(core.ErrNotFound, "sandbox i1 not found")
	transition := &core.TransitionError{Resource: "sandbox i1", From: "killed", To: "running"}
	adapterKind := errors.New("adapter's own kind")
	cases := []struct {
		name     string
		err      error
		wantKind error
		wantMsg  string
	}{
		{"nil", nil, nil, "internal error"},
		{"unclassified", errors.New("disk on fire"), nil, "internal error"},
		{"classified", notFound, core.ErrNotFound, "sandbox i1 not found"},
		{"outer kind over its cause's", core.WithCause(core.ErrUnavailable, notFound, "push failed"), core.ErrUnavailable, "push failed"},
		{"outer kind over a wrapped cause's", core.WithCause(core.ErrUnavailable, fmt.Errorf("push: %w", notFound), "push failed"), core.ErrUnavailable, "push failed"},
		{"outer kind over a sentinel cause", core.WithCause(core.ErrFailedPrecondition, core.ErrNotFound, "registry gone"), core.ErrFailedPrecondition, "registry gone"},
		{"outer kind over a transition cause", core.WithCause(core.ErrNotFound, transition, "sandbox i1 not found"), core.ErrNotFound, "sandbox i1 not found"},
		{"plain wrapping is transparent", fmt.Errorf("record: %w", core.WithCause(core.ErrUnavailable, notFound, "db down")), core.ErrUnavailable, "db down"},
		{"inner kind without an outer one", fmt.Errorf("record: %w", notFound), core.ErrNotFound, "sandbox i1 not found"},
		{"sentinel wrapped with %w", fmt.Errorf("load i1: %w", core.ErrNotFound), core.ErrNotFound, "not found"},
		{"transition error", fmt.Errorf("pause: %w", transition), core.ErrFailedPrecondition, `sandbox i1 cannot go from "killed" to "running"`},
		{"adapter kind over a core cause", &core.Error{Kind: adapterKind, Message: "not running", Cause: notFound}, adapterKind, "not running"},
		{"first classified of a join", errors.Join(errors.New("x"), core.Errorf(core.ErrResourceExhausted, "full"), notFound), core.ErrResourceExhausted, "full"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := core.KindOf(tc.err); got != tc.wantKind {
				t.Errorf("KindOf = %v, want %v", got, tc.wantKind)
			}
			if got := core.PublicMessage(tc.err); got != tc.wantMsg {
				t.Errorf("PublicMessage = %q, want %q", got, tc.wantMsg)
			}
		})
	}
}
