package core

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestTransitionsUsedAreInTheTable reads core's code: the store's
// compare-and-set methods are called only by the two transition helpers,
// and every call of a helper uses steps the state tables draw. From-lists
// are read statically: a constant is itself; a state read from a row
// (x.State, x.Status) may be any state with a way out, so each of them must
// step to `to`; XPredecessors(to) is the table itself. Anything else makes
// the test fail, so a new transition cannot escape the check.
func TestTransitionsUsedAreInTheTable(t *testing.T) {
	fset, files := parseCore(t)
	consts := stateConsts(files)
	sandbox := machine[SandboxState]{sandboxTransitions, "SandboxState", "SandboxPredecessors", "State"}
	snapshot := machine[SnapshotStatus]{snapshotTransitions, "SnapshotStatus", "SnapshotPredecessors", "Status"}
	calls := 0
	for name, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			fd, ok := n.(*ast.FuncDecl)
			if !ok {
				return true
			}
			ast.Inspect(fd, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				at := name + ":" + strconv.Itoa(fset.Position(call.Pos()).Line)
				switch callee(call) {
				case "TransitionSandbox", "FinishSnapshot":
					if fd.Name.Name != "transitionSandbox" && fd.Name.Name != "finishSnapshot" {
						t.Errorf("%s: %s calls the store's compare-and-set directly; use transitionSandbox or finishSnapshot", at, fd.Name.Name)
					}
				case "transitionSandbox":
					calls++
					sandbox.check(t, at, consts, call.Args[3], call.Args[4])
				case "finishSnapshot":
					calls++
					snapshot.check(t, at, consts, call.Args[3], statusOf(call.Args[4]))
				}
				return true
			})
			return false
		})
	}
	if calls < 10 {
		t.Errorf("found %d transition calls; the parser misses some", calls)
	}
}

// parseCore parses core's code, its tests left out.
func parseCore(t *testing.T) (*token.FileSet, map[string]*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*ast.File{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = f
	}
	return fset, files
}

// stateConsts maps the names of typed string constants to their values.
func stateConsts(files map[string]*ast.File) map[string]string {
	out := map[string]string{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok || vs.Type == nil || len(vs.Names) != len(vs.Values) {
				return true
			}
			for i, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					out[types.ExprString(vs.Type)+"."+vs.Names[i].Name] = s
				}
			}
			return true
		})
	}
	return out
}

func callee(call *ast.CallExpr) string {
	switch fn := call.Fun.(type) {
	case *ast.Ident:
		return fn.Name
	case *ast.SelectorExpr:
		return fn.Sel.Name
	}
	return ""
}

// statusOf is the status a SnapshotResult argument records.
func statusOf(r ast.Expr) ast.Expr {
	if lit, ok := r.(*ast.CompositeLit); ok {
		for _, e := range lit.Elts {
			if kv, ok := e.(*ast.KeyValueExpr); ok && types.ExprString(kv.Key) == "Status" {
				return kv.Value
			}
		}
		return nil
	}
	return &ast.SelectorExpr{X: r, Sel: ast.NewIdent("Status")}
}

type machine[S ~string] struct {
	table        map[S][]S
	typ          string // the state type's name
	predecessors string // its XPredecessors function
	field        string // the field a row holds its state in
}

func (m machine[S]) check(t *testing.T, at string, consts map[string]string, fromArg, toArg ast.Expr) {
	t.Helper()
	if toArg == nil {
		t.Errorf("%s: cannot read the status a transition goes to", at)
		return
	}
	if call, ok := fromArg.(*ast.CallExpr); ok && callee(call) == m.predecessors && len(call.Args) == 1 &&
		types.ExprString(call.Args[0]) == types.ExprString(toArg) {
		if to, ok := m.constant(consts, toArg); ok && len(predecessors(m.table, to)) == 0 {
			t.Errorf("%s: no state leads to %q", at, to)
		}
		return // the table's own predecessors of to, whatever to is
	}
	to, ok := m.constant(consts, toArg)
	if !ok {
		t.Errorf("%s: transition to %s: a from-list other than %s(to) needs a constant to", at, types.ExprString(toArg), m.predecessors)
		return
	}
	lit, ok := fromArg.(*ast.CompositeLit)
	if !ok {
		t.Errorf("%s: from-list %s: write a []%s{...} literal or %s(to)", at, types.ExprString(fromArg), m.typ, m.predecessors)
		return
	}
	for _, e := range lit.Elts {
		var from []S
		if sel, ok := e.(*ast.SelectorExpr); ok && sel.Sel.Name == m.field {
			from = slices.Sorted(maps.Keys(m.table)) // read from a row: any state with a way out
		} else if f, ok := m.constant(consts, e); ok {
			from = []S{f}
		} else {
			t.Errorf("%s: cannot read from-state %s", at, types.ExprString(e))
			continue
		}
		for _, f := range from {
			if !slices.Contains(m.table[f], to) {
				t.Errorf("%s: %s %q -> %q is not in the table", at, m.typ, f, to)
			}
		}
	}
}

func (m machine[S]) constant(consts map[string]string, e ast.Expr) (S, bool) {
	id, ok := e.(*ast.Ident)
	if !ok {
		return "", false
	}
	v, ok := consts[m.typ+"."+id.Name]
	return S(v), ok
}

// transitionStore records the compare-and-sets that reach it.
type transitionStore struct {
	Store
	writes int
}

func (s *transitionStore) TransitionSandbox(context.Context, string, []SandboxState, SandboxState, SandboxChange) error {
	s.writes++
	return nil
}

func (s *transitionStore) FinishSnapshot(context.Context, string, []SnapshotStatus, SnapshotResult) error {
	s.writes++
	return nil
}

func TestTransitionHelpersRefuseStepsOutsideTheTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		do      func(context.Context, Store) error
		wantErr bool // and no write: a *TransitionError when some from is given
	}{
		{"sandbox running -> paused", func(ctx context.Context, st Store) error {
			return transitionSandbox(ctx, st, "i1", []SandboxState{SandboxRunning}, SandboxPaused, SandboxChange{})
		}, false},
		{"sandbox killed -> running", func(ctx context.Context, st Store) error {
			return transitionSandbox(ctx, st, "i1", []SandboxState{SandboxKilled}, SandboxRunning, SandboxChange{})
		}, true},
		{"sandbox running or failed -> killed", func(ctx context.Context, st Store) error {
			return transitionSandbox(ctx, st, "i1", []SandboxState{SandboxRunning, SandboxFailed}, SandboxKilled, SandboxChange{})
		}, true},
		{"sandbox from nothing", func(ctx context.Context, st Store) error {
			return transitionSandbox(ctx, st, "i1", nil, SandboxKilled, SandboxChange{})
		}, true},
		{"snapshot building -> ready", func(ctx context.Context, st Store) error {
			return finishSnapshot(ctx, st, "s1", []SnapshotStatus{SnapshotBuilding}, SnapshotResult{Status: SnapshotReady})
		}, false},
		{"snapshot ready -> failed", func(ctx context.Context, st Store) error {
			return finishSnapshot(ctx, st, "s1", []SnapshotStatus{SnapshotReady}, SnapshotResult{Status: SnapshotFailed})
		}, true},
		{"snapshot from nothing (nothing leads back to building)", func(ctx context.Context, st Store) error {
			return finishSnapshot(ctx, st, "s1", SnapshotPredecessors(SnapshotBuilding), SnapshotResult{Status: SnapshotBuilding})
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := &transitionStore{}
			err := tc.do(t.Context(), st)
			switch {
			case tc.wantErr && (err == nil || st.writes != 0):
				t.Errorf("err = %v after %d writes, want an error and no write", err, st.writes)
			case !tc.wantErr && (err != nil || st.writes != 1):
				t.Errorf("err = %v after %d writes, want one write", err, st.writes)
			}
			var te *TransitionError
			if tc.wantErr && !strings.Contains(tc.name, "from nothing") && (!errors.As(err, &te) || KindOf(err) != ErrFailedPrecondition) {
				t.Errorf("err = %#v, want a *TransitionError (ErrFailedPrecondition)", err)
			}
		})
	}
}
