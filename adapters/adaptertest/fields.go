package adaptertest

import (
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// UnknownField is the field name of the row that checks that a body
// field the spec does not define is refused.
const UnknownField = "*"

// RequestFields lists every operation's request fields by operationId:
// query parameters as "?name", top-level body properties by name, and
// UnknownField for every operation with a body.
func RequestFields(doc *openapi3.T) map[string][]string {
	out := map[string][]string{}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			var fields []string
			for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
				if p.Value.In == openapi3.ParameterInQuery {
					fields = append(fields, "?"+p.Value.Name)
				}
			}
			if op.RequestBody != nil {
				for _, mt := range op.RequestBody.Value.Content {
					for name := range mt.Schema.Value.Properties {
						fields = append(fields, name)
					}
					fields = append(fields, UnknownField)
				}
			}
			slices.Sort(fields)
			out[op.OperationID] = slices.Compact(fields)
		}
	}
	return out
}

// CheckFieldCoverage fails t unless table (operationId -> field -> row)
// has a row for every request field of every operation in doc, each
// complete (it says what happens and checks it), and no row the spec
// lacks: a field added to the spec must be honoured or refused before the
// suite passes again.
func CheckFieldCoverage[M ~map[string]R, R any](t *testing.T, doc *openapi3.T, table map[string]M, complete func(R) bool) {
	t.Helper()
	ops := RequestFields(doc)
	for op, fields := range ops {
		rows, ok := table[op]
		if !ok {
			t.Errorf("operation %s has no field table", op)
			continue
		}
		for _, f := range fields {
			row, ok := rows[f]
			switch {
			case !ok:
				t.Errorf("%s: field %q is neither honoured nor refused in the field table", op, f)
			case !complete(row):
				t.Errorf("%s: field %q: its row says nothing or checks nothing", op, f)
			}
		}
		for f := range rows {
			if !slices.Contains(fields, f) {
				t.Errorf("%s: the field table has field %q, the spec does not", op, f)
			}
		}
	}
	for op := range table {
		if _, ok := ops[op]; !ok {
			t.Errorf("the field table has operation %s, the spec does not", op)
		}
	}
}

// Operation is one operation of a spec.
type Operation struct {
	ID, Method, Path string
}

// Operations lists doc's operations, sorted by path and method.
func Operations(doc *openapi3.T) []Operation {
	var out []Operation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out = append(out, Operation{ID: op.OperationID, Method: method, Path: path})
		}
	}
	slices.SortFunc(out, func(a, b Operation) int { return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method) })
	return out
}

// Fill replaces every {param} of a spec path with values[param].
func Fill(path string, values map[string]string) string {
	for k, v := range values {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return path
}
