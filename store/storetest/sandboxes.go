package storetest

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

func sandboxCases() []storeCase {
	return []storeCase{
		{"sandbox round trip", testSandboxRoundTrip},
		{"sandbox tenant isolation", testSandboxTenantIsolation},
		{"sandbox live names", testSandboxLiveNames},
		{"sandbox transitions", testSandboxTransitions},
		{"concurrent sandbox transitions have one winner", testConcurrentTransitions},
		{"sandbox update", testSandboxUpdate},
		{"sandbox list states and pages", testSandboxListPaging},
		{"sandbox list metadata filter", testSandboxMetadataFilter},
		{"sandbox list oldest first, by snapshot and start time", testSandboxListOrderAndFilters},
		{"sandbox list sorts and metadata keys", testSandboxListSortsAndKeys},
		{"sandbox maps refuse what JSON cannot keep", testSandboxMapLimits},
		{"sandboxes by node, deadline and snapshot", testSandboxNodeQueries},
		{"sandbox counts by node and state", testSandboxCounts},
	}
}

func sandbox(tenant, name string, created time.Time) *core.Sandbox {
	return &core.Sandbox{
		ID: "i" + newID()[:20], TenantID: tenant, Name: name,
		SnapshotID: "snap-1", TemplateRef: "base", State: core.SandboxRunning,
		VCPUs: 2, MemoryBytes: 512 << 20, DiskBytes: 1 << 30,
		Env: map[string]string{"PATH": "/bin"}, Metadata: map[string]string{"team": "a"},
		OnTimeout: core.TimeoutKill, Deadline: created.Add(5 * time.Minute),
		AccessToken: newID(), Node: "node-a",
		StartedAt: created.Add(time.Second), CreatedAt: created, UpdatedAt: created,
	}
}

func mustCreateSandbox(t *testing.T, st core.Store, b *core.Sandbox) {
	t.Helper()
	if err := st.CreateSandbox(t.Context(), b); err != nil {
		t.Fatalf("CreateSandbox(%s/%q): %v", b.TenantID, b.Name, err)
	}
}

func getSandbox(t *testing.T, st core.Store, tenant, id string) *core.Sandbox {
	t.Helper()
	got, err := st.GetSandbox(t.Context(), tenant, id)
	if err != nil {
		t.Fatalf("GetSandbox(%q, %s): %v", tenant, id, err)
	}
	return got
}

// storedSandbox is b as the store returns it: times in UTC at microsecond
// precision (zero stays zero), and maps never nil.
func storedSandbox(b *core.Sandbox) *core.Sandbox {
	c := *b
	for _, tm := range []*time.Time{&c.Deadline, &c.StartedAt, &c.CreatedAt, &c.UpdatedAt} {
		if !tm.IsZero() {
			*tm = micro(*tm)
		}
	}
	c.Env, c.Metadata = maps.Clone(b.Env), maps.Clone(b.Metadata)
	if c.Env == nil {
		c.Env = map[string]string{}
	}
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	return &c
}

func ids(boxes []*core.Sandbox) []string {
	out := make([]string, len(boxes))
	for i, b := range boxes {
		out[i] = b.ID
	}
	return out
}

func transition(t *testing.T, st core.Store, id string, from []core.SandboxState, to core.SandboxState, ch core.SandboxChange) {
	t.Helper()
	if err := st.TransitionSandbox(t.Context(), id, from, to, ch); err != nil {
		t.Fatalf("TransitionSandbox(%s, %v -> %s): %v", id, from, to, err)
	}
}

var (
	fromLive    = []core.SandboxState{core.SandboxStarting, core.SandboxRunning, core.SandboxPaused}
	fromRunning = []core.SandboxState{core.SandboxRunning}
)

func testSandboxRoundTrip(t *testing.T, e env) {
	ctx := t.Context()
	full := sandbox("t1", "web", base)
	full.StatusMessage = "ok"
	full.OnTimeout = core.TimeoutPause
	full.UpdatedAt = base.Add(time.Minute + 999)
	full.Env = map[string]string{
		"EMPTY": "", "QUOTE": `say "hi"`, "MULTI": "a\nb\tc", "UNICODE": "héllo ✓", "BACKSLASH": `C:\dir`,
	}
	full.Metadata = map[string]string{"a.b": "1", `we"ird`: "x", "$.path": "y", "space key": " v "}
	bare := &core.Sandbox{ // unnamed, no maps, no deadline, not started
		ID: "i" + newID()[:20], TenantID: "t1", SnapshotID: "snap-2", State: core.SandboxStarting,
		CreatedAt: base, UpdatedAt: base,
	}
	empty := sandbox("t1", "", base) // empty, non-nil maps
	empty.Env, empty.Metadata = map[string]string{}, map[string]string{}
	for _, b := range []*core.Sandbox{full, bare, empty} {
		mustCreateSandbox(t, e.st, b)
		for _, tenant := range []string{"t1", ""} {
			got := getSandbox(t, e.st, tenant, b.ID)
			diff(t, "GetSandbox "+b.ID, storedSandbox(b), got)
			checkUTC(t, "GetSandbox", got.CreatedAt, got.UpdatedAt)
			if got.Env == nil || got.Metadata == nil {
				t.Errorf("GetSandbox %s: nil map (env %v, metadata %v), want empty maps", b.ID, got.Env, got.Metadata)
			}
		}
	}
	got := getSandbox(t, e.st, "t1", full.ID)
	checkUTC(t, "GetSandbox(full)", got.Deadline, got.StartedAt)
	if got := getSandbox(t, e.st, "t1", bare.ID); !got.Deadline.IsZero() || !got.StartedAt.IsZero() {
		t.Errorf("bare sandbox: deadline %v, started %v; want zero times", got.Deadline, got.StartedAt)
	}
	byName, err := e.st.GetSandboxByName(ctx, "t1", "web")
	if err != nil {
		t.Fatalf("GetSandboxByName: %v", err)
	}
	diff(t, "GetSandboxByName", storedSandbox(full), byName)

	_, err = e.st.GetSandbox(ctx, "t1", "no-such-id")
	wantErr(t, "GetSandbox(missing)", err, core.ErrNotFound)
	if msg := core.PublicMessage(err); msg != `sandbox "no-such-id" not found` {
		t.Errorf("PublicMessage = %q", msg)
	}
	_, err = e.st.GetSandboxByName(ctx, "t1", "nope")
	wantErr(t, "GetSandboxByName(missing)", err, core.ErrNotFound)
	_, err = e.st.GetSandboxByName(ctx, "t1", "")
	wantErr(t, "GetSandboxByName(empty name)", err, core.ErrNotFound)
	dupID := sandbox("t1", "other", base)
	dupID.ID = full.ID
	wantErr(t, "CreateSandbox(same id)", e.st.CreateSandbox(ctx, dupID), core.ErrAlreadyExists)
}

func testSandboxTenantIsolation(t *testing.T, e env) {
	ctx := t.Context()
	mine := sandbox("t1", "web", base)
	theirs := sandbox("t2", "web", base.Add(time.Second)) // same name, other tenant: fine
	mustCreateSandbox(t, e.st, mine)
	mustCreateSandbox(t, e.st, theirs)

	_, err := e.st.GetSandbox(ctx, "t1", theirs.ID)
	wantErr(t, "GetSandbox(other tenant)", err, core.ErrNotFound)
	got, err := e.st.GetSandboxByName(ctx, "t1", "web")
	if err != nil || got.ID != mine.ID {
		t.Fatalf("GetSandboxByName(t1, web) = %v, %v; want %s", got, err, mine.ID)
	}
	upd := *theirs
	upd.TenantID, upd.Name = "t1", "stolen"
	wantErr(t, "UpdateSandbox(other tenant)", e.st.UpdateSandbox(ctx, &upd), core.ErrNotFound)
	diff(t, "their sandbox after t1's update", storedSandbox(theirs), getSandbox(t, e.st, "t2", theirs.ID))

	list, err := e.st.ListSandboxes(ctx, "t1", core.SandboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListSandboxes(t1)", []string{mine.ID}, ids(list))
	all, err := e.st.ListSandboxes(ctx, "", core.SandboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ListSandboxes(any tenant)", []string{theirs.ID, mine.ID}, ids(all))
	if got := getSandbox(t, e.st, "", theirs.ID); got.TenantID != "t2" {
		t.Errorf("GetSandbox(any tenant) tenant = %q", got.TenantID)
	}
}

func testSandboxLiveNames(t *testing.T, e env) {
	ctx := t.Context()
	first := sandbox("t1", "web", base)
	mustCreateSandbox(t, e.st, first)
	err := e.st.CreateSandbox(ctx, sandbox("t1", "web", base))
	wantErr(t, "CreateSandbox(live name)", err, core.ErrAlreadyExists)
	if msg := core.PublicMessage(err); msg != `sandbox "web" already exists` {
		t.Errorf("PublicMessage = %q, want the client-safe text naming the sandbox", msg)
	}
	// A paused or starting sandbox holds its name too.
	transition(t, e.st, first.ID, fromRunning, core.SandboxPaused, core.SandboxChange{})
	wantErr(t, "CreateSandbox(paused holder)", e.st.CreateSandbox(ctx, sandbox("t1", "web", base)), core.ErrAlreadyExists)
	starting := sandbox("t1", "job", base)
	starting.State = core.SandboxStarting
	mustCreateSandbox(t, e.st, starting)
	wantErr(t, "CreateSandbox(starting holder)", e.st.CreateSandbox(ctx, sandbox("t1", "job", base)), core.ErrAlreadyExists)
	// Unnamed sandboxes never clash.
	for range 3 {
		mustCreateSandbox(t, e.st, sandbox("t1", "", base))
	}

	// Killing frees the name; the killed row stays readable by id.
	transition(t, e.st, first.ID, fromLive, core.SandboxKilled, core.SandboxChange{})
	_, err = e.st.GetSandboxByName(ctx, "t1", "web")
	wantErr(t, "GetSandboxByName(killed)", err, core.ErrNotFound)
	if got := getSandbox(t, e.st, "t1", first.ID); got.State != core.SandboxKilled || got.Name != "web" {
		t.Errorf("killed sandbox reads %s %q, want killed \"web\"", got.State, got.Name)
	}
	second := sandbox("t1", "web", base.Add(time.Second))
	mustCreateSandbox(t, e.st, second)
	if got, err := e.st.GetSandboxByName(ctx, "t1", "web"); err != nil || got.ID != second.ID {
		t.Fatalf("GetSandboxByName(web) = %v, %v; want the new %s", got, err, second.ID)
	}
	// Failing frees it as well; a killed row may be created directly.
	transition(t, e.st, starting.ID, []core.SandboxState{core.SandboxStarting}, core.SandboxFailed, core.SandboxChange{})
	mustCreateSandbox(t, e.st, sandbox("t1", "job", base))
	dead := sandbox("t1", "web", base)
	dead.State = core.SandboxKilled
	mustCreateSandbox(t, e.st, dead)

	// A row that goes live again takes its name back, and may clash.
	err = e.st.TransitionSandbox(ctx, first.ID, []core.SandboxState{core.SandboxKilled}, core.SandboxRunning, core.SandboxChange{})
	wantErr(t, "revive onto a taken name", err, core.ErrAlreadyExists)
	if got := getSandbox(t, e.st, "t1", first.ID); got.State != core.SandboxKilled {
		t.Errorf("failed revive left state %s", got.State)
	}
}

func testSandboxTransitions(t *testing.T, e env) {
	ctx := t.Context()
	b := sandbox("t1", "web", base)
	b.State, b.StartedAt, b.StatusMessage = core.SandboxStarting, time.Time{}, "creating"
	mustCreateSandbox(t, e.st, b)
	want := storedSandbox(b)

	before := time.Now().Add(-time.Second)
	started := base.Add(2*time.Second + 999)
	msg := "up"
	transition(t, e.st, b.ID, []core.SandboxState{core.SandboxStarting}, core.SandboxRunning,
		core.SandboxChange{StartedAt: &started, StatusMessage: &msg})
	got := getSandbox(t, e.st, "t1", b.ID)
	want.State, want.StartedAt, want.StatusMessage, want.UpdatedAt = core.SandboxRunning, micro(started), "up", got.UpdatedAt
	diff(t, "after starting -> running", want, got)
	if got.UpdatedAt.Before(before) || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("UpdatedAt = %v, want a UTC time after %v", got.UpdatedAt, before)
	}

	// A pointer to a zero deadline clears it; nil fields stay as they are.
	transition(t, e.st, b.ID, fromRunning, core.SandboxPaused, core.SandboxChange{Deadline: &time.Time{}})
	got = getSandbox(t, e.st, "t1", b.ID)
	want.State, want.Deadline, want.UpdatedAt = core.SandboxPaused, time.Time{}, got.UpdatedAt
	diff(t, "after running -> paused", want, got)

	deadline := base.Add(time.Hour + 1)
	transition(t, e.st, b.ID, []core.SandboxState{core.SandboxPaused}, core.SandboxRunning, core.SandboxChange{Deadline: &deadline})
	got = getSandbox(t, e.st, "t1", b.ID)
	want.State, want.Deadline, want.UpdatedAt = core.SandboxRunning, micro(deadline), got.UpdatedAt
	diff(t, "after paused -> running", want, got)

	// Illegal: the state is not one of from. Nothing changes.
	late := "late"
	err := e.st.TransitionSandbox(ctx, b.ID, []core.SandboxState{core.SandboxPaused}, core.SandboxKilled, core.SandboxChange{StatusMessage: &late})
	wantErr(t, "TransitionSandbox(from paused while running)", err, core.ErrFailedPrecondition)
	var te *core.TransitionError
	if !errors.As(err, &te) || te.From != "running" || te.To != "killed" || te.Resource != "sandbox "+b.ID {
		t.Errorf("err = %#v, want a TransitionError of sandbox %s from running to killed", err, b.ID)
	}
	diff(t, "after a missed CAS", want, getSandbox(t, e.st, "t1", b.ID))
	wantErr(t, "TransitionSandbox(no predecessors)",
		e.st.TransitionSandbox(ctx, b.ID, nil, core.SandboxKilled, core.SandboxChange{}), core.ErrFailedPrecondition)

	transition(t, e.st, b.ID, fromLive, core.SandboxKilled, core.SandboxChange{StatusMessage: &late})
	err = e.st.TransitionSandbox(ctx, b.ID, fromLive, core.SandboxKilled, core.SandboxChange{})
	if !errors.As(err, &te) || te.From != "killed" {
		t.Errorf("kill twice: err = %#v, want a TransitionError from killed", err)
	}
	err = e.st.TransitionSandbox(ctx, "no-such-id", fromLive, core.SandboxKilled, core.SandboxChange{})
	wantErr(t, "TransitionSandbox(missing)", err, core.ErrFailedPrecondition)
	if !errors.As(err, &te) || te.From != "deleted" {
		t.Errorf("err = %#v, want a TransitionError from deleted", err)
	}
}

// testConcurrentTransitions races a kill against a pause on each of
// several running sandboxes: exactly one of each pair wins, and the row
// ends in the winner's state.
func testConcurrentTransitions(t *testing.T, e env) {
	other := e.open(t)
	const n = 8
	boxes := make([]*core.Sandbox, n)
	for i := range boxes {
		boxes[i] = sandbox("t1", fmt.Sprintf("box-%d", i), base)
		mustCreateSandbox(t, e.st, boxes[i])
	}
	var wg sync.WaitGroup
	type outcome struct {
		to  core.SandboxState
		err error
	}
	results := make([][2]outcome, n)
	for i, b := range boxes {
		for j, to := range []core.SandboxState{core.SandboxKilled, core.SandboxPaused} {
			st := e.st
			if j == 1 {
				st = other // a second process
			}
			wg.Go(func() {
				results[i][j] = outcome{to, st.TransitionSandbox(t.Context(), b.ID, fromRunning, to, core.SandboxChange{})}
			})
		}
	}
	wg.Wait()
	for i, b := range boxes {
		var winners []core.SandboxState
		for _, r := range results[i] {
			switch {
			case r.err == nil:
				winners = append(winners, r.to)
			case !errors.Is(r.err, core.ErrFailedPrecondition):
				t.Errorf("%s -> %s: %v, want nil or ErrFailedPrecondition", b.ID, r.to, r.err)
			default:
				var te *core.TransitionError
				if !errors.As(r.err, &te) || te.From == "running" {
					t.Errorf("loser %s -> %s: %#v, want a TransitionError from the winner's state", b.ID, r.to, r.err)
				}
			}
		}
		if len(winners) != 1 {
			t.Errorf("%s: winners %v, want exactly one", b.ID, winners)
			continue
		}
		if got := getSandbox(t, e.st, "t1", b.ID); got.State != winners[0] {
			t.Errorf("%s: state %s, want the winner's %s", b.ID, got.State, winners[0])
		}
	}
}

func testSandboxUpdate(t *testing.T, e env) {
	ctx := t.Context()
	b := sandbox("t1", "web", base)
	mustCreateSandbox(t, e.st, b)
	taken := sandbox("t1", "api", base)
	mustCreateSandbox(t, e.st, taken)

	upd := *b
	upd.Name, upd.OnTimeout = "frontend", core.TimeoutPause
	upd.Deadline = base.Add(2*time.Hour + 1)
	upd.Metadata = map[string]string{"owner": "bob"}
	upd.UpdatedAt = base.Add(time.Minute)
	// Fields UpdateSandbox does not save.
	upd.Env, upd.State, upd.Node, upd.VCPUs = map[string]string{"X": "1"}, core.SandboxPaused, "elsewhere", 64
	if err := e.st.UpdateSandbox(ctx, &upd); err != nil {
		t.Fatalf("UpdateSandbox: %v", err)
	}
	want := storedSandbox(b)
	want.Name, want.OnTimeout, want.Deadline = "frontend", core.TimeoutPause, micro(upd.Deadline)
	want.Metadata, want.UpdatedAt = map[string]string{"owner": "bob"}, micro(upd.UpdatedAt)
	diff(t, "after UpdateSandbox", want, getSandbox(t, e.st, "t1", b.ID))
	if got, err := e.st.GetSandboxByName(ctx, "t1", "frontend"); err != nil || got.ID != b.ID {
		t.Errorf("GetSandboxByName(new name) = %v, %v", got, err)
	}
	_, err := e.st.GetSandboxByName(ctx, "t1", "web")
	wantErr(t, "GetSandboxByName(old name)", err, core.ErrNotFound)
	mustCreateSandbox(t, e.st, sandbox("t1", "web", base)) // the old name is free

	// Clearing the deadline and metadata; a zero UpdatedAt keeps the stored one.
	upd.Deadline, upd.Metadata, upd.UpdatedAt = time.Time{}, nil, time.Time{}
	if err := e.st.UpdateSandbox(ctx, &upd); err != nil {
		t.Fatalf("UpdateSandbox(clear): %v", err)
	}
	want.Deadline, want.Metadata = time.Time{}, map[string]string{}
	diff(t, "after clearing", want, getSandbox(t, e.st, "t1", b.ID))

	clash := upd
	clash.Name = "api"
	err = e.st.UpdateSandbox(ctx, &clash)
	wantErr(t, "UpdateSandbox(taken name)", err, core.ErrAlreadyExists)
	if msg := core.PublicMessage(err); msg != `sandbox "api" already exists` {
		t.Errorf("PublicMessage = %q", msg)
	}
	diff(t, "after a refused rename", want, getSandbox(t, e.st, "t1", b.ID))

	// Dropping the name frees it; two unnamed sandboxes are fine.
	unnamed := upd
	unnamed.Name = ""
	if err := e.st.UpdateSandbox(ctx, &unnamed); err != nil {
		t.Fatalf("UpdateSandbox(no name): %v", err)
	}
	unnamedToo := *taken
	unnamedToo.Name = ""
	if err := e.st.UpdateSandbox(ctx, &unnamedToo); err != nil {
		t.Fatalf("UpdateSandbox(second unnamed): %v", err)
	}
	mustCreateSandbox(t, e.st, sandbox("t1", "frontend", base))

	// A killed sandbox is not live: not found, and its name is no clash.
	transition(t, e.st, taken.ID, fromLive, core.SandboxKilled, core.SandboxChange{})
	wantErr(t, "UpdateSandbox(killed)", e.st.UpdateSandbox(ctx, &unnamedToo), core.ErrNotFound)
	missing := upd
	missing.ID = "no-such-id"
	wantErr(t, "UpdateSandbox(missing)", e.st.UpdateSandbox(ctx, &missing), core.ErrNotFound)
}

// Invalid UTF-8 would come back altered and a NUL would break Postgres's
// jsonb cast in every filtered listing, so the store refuses both.
func testSandboxMapLimits(t *testing.T, e env) {
	ctx := t.Context()
	bad := []struct {
		what      string
		env, meta map[string]string
	}{
		{"NUL in an env value", map[string]string{"A": "x\x00y"}, nil},
		{"NUL in a metadata key", nil, map[string]string{"k\x00": "v"}},
		{"invalid UTF-8 in a metadata value", nil, map[string]string{"k": "\xff"}},
		{"invalid UTF-8 in an env key", map[string]string{"\xc3": "v"}, nil},
	}
	for _, tt := range bad {
		b := sandbox("t1", "", base)
		b.Env, b.Metadata = tt.env, tt.meta
		wantErr(t, "CreateSandbox("+tt.what+")", e.st.CreateSandbox(ctx, b), core.ErrInvalidArgument)
	}
	b := sandbox("t1", "web", base)
	mustCreateSandbox(t, e.st, b)
	upd := *b
	upd.Metadata = map[string]string{"k": "a\x00"}
	wantErr(t, "UpdateSandbox(NUL in metadata)", e.st.UpdateSandbox(ctx, &upd), core.ErrInvalidArgument)
	diff(t, "after a refused update", storedSandbox(b), getSandbox(t, e.st, "t1", b.ID))
	got, err := e.st.ListSandboxes(ctx, "t1", core.SandboxFilter{Metadata: map[string]string{"team": "a\x00"}})
	if err != nil || len(got) != 0 {
		t.Errorf("ListSandboxes(NUL in filter) = %v, %v; want none", ids(got), err)
	}
	if got, err := e.st.ListSandboxes(ctx, "t1", core.SandboxFilter{Metadata: map[string]string{"team": "a"}}); err != nil || len(got) != 1 {
		t.Errorf("ListSandboxes(team=a) = %v, %v; want %s", ids(got), err, b.ID)
	}
}
