package edge_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/adapters/edge"
	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/specs"
)

// specOp is one operation of a bundled spec, registered with a validator.
type specOp struct {
	v              *edge.Validator
	method, path   string // path in gin syntax
	params         []string
	contentTypeFor string
}

var specParam = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

// specOps registers every operation of every bundled spec.
func specOps(tb testing.TB) ([]specOp, []adaptertest.Seed) {
	var ops []specOp
	var seeds []adaptertest.Seed
	for _, load := range []func(context.Context) (*openapi3.T, error){specs.LangSmith, specs.E2B, specs.Envd} {
		spec, err := load(tb.Context())
		if err != nil {
			tb.Fatal(err)
		}
		v := edge.NewValidator(spec)
		paths := spec.Paths.InMatchingOrder()
		slices.Sort(paths)
		for _, p := range paths {
			ginPath := specParam.ReplaceAllString(p, ":$1")
			var params []string
			for _, m := range specParam.FindAllStringSubmatch(p, -1) {
				params = append(params, m[1])
			}
			methods := make([]string, 0)
			for m := range spec.Paths.Value(p).Operations() {
				methods = append(methods, m)
			}
			slices.Sort(methods)
			for _, m := range methods {
				if err := v.Add(m, ginPath); err != nil {
					tb.Fatal(err)
				}
				ct := "application/json"
				if rb := spec.Paths.Value(p).GetOperation(m).RequestBody; rb != nil && rb.Value != nil && rb.Value.Content.Get(ct) == nil {
					for k := range rb.Value.Content {
						ct = k
					}
				}
				ops = append(ops, specOp{v: v, method: m, path: ginPath, params: params, contentTypeFor: ct})
			}
		}
		seeds = append(seeds, adaptertest.Seeds(spec)...)
	}
	return ops, seeds
}

// FuzzValidator runs the validation middleware's check on fuzzed
// parameters, queries, headers and bodies for every operation of the
// bundled specs: it never panics, and every refusal is
// ErrInvalidArgument with a message.
func FuzzValidator(f *testing.F) {
	ops, seeds := specOps(f)
	for _, s := range seeds {
		for i, op := range ops {
			if op.method == s.Method && specParam.ReplaceAllString(s.Path, ":$1") == op.path {
				f.Add(uint16(i), "a", "", "", s.Body)
			}
		}
	}
	for i := range ops {
		for _, n := range adaptertest.HostileNames()[:20] {
			f.Add(uint16(i), n, "limit="+url.QueryEscape(n), "", []byte(`{"name":"`+n+`"}`))
		}
		for _, b := range adaptertest.HostileBodies() {
			f.Add(uint16(i), "x", "limit=-1&offset=1e9&cursor=%00", "text/plain", b)
		}
	}
	tried := adaptertest.Tried(f)
	gin.SetMode(gin.TestMode)
	f.Fuzz(func(t *testing.T, opIdx uint16, param, query, contentType string, body []byte) {
		tried.Add(1)
		op := ops[int(opIdx)%len(ops)]
		req := httptest.NewRequest(op.method, "/", bytes.NewReader(body))
		req.URL.RawQuery = query
		if contentType == "" {
			contentType = op.contentTypeFor
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Connect-Protocol-Version", "1")
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = req
		for _, p := range op.params {
			c.Params = append(c.Params, gin.Param{Key: p, Value: param})
		}
		err := op.v.Check(c, op.path)
		if err == nil {
			return
		}
		if !errors.Is(err, core.ErrInvalidArgument) || core.PublicMessage(err) == "" {
			t.Fatalf("%s %s (param %q, query %q): %v, want ErrInvalidArgument with a message", op.method, op.path, param, query, err)
		}
	})
}

// FuzzDescribe: rendering any error never panics and names something.
func FuzzDescribe(f *testing.F) {
	f.Add("at '/fs_capacity_bytes': got string, want integer")
	f.Add("missing properties 'name', 'x'")
	f.Add("at '': missing property 'name'\nat '/a/b': bad")
	tried := adaptertest.Tried(f)
	f.Fuzz(func(t *testing.T, reason string) {
		tried.Add(1)
		se := &openapi3.SchemaError{Reason: reason}
		errs := openapi3.MultiError{se, errors.New(reason)}
		if edge.Describe(errs) == "" || edge.Describe(nil) == "" {
			t.Fatalf("empty description for %q", reason)
		}
	})
}

func TestDescribeNilOrEmptyNeverPanics(t *testing.T) {
	for _, err := range []error{nil, openapi3.MultiError{}, openapi3.MultiError{nil}} {
		if got := edge.Describe(err); got == "" {
			t.Errorf("edge.Describe(%#v) = %q", err, got)
		}
	}
}
