package adaptertest

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
)

// Seed is a request body the spec describes for one operation: its own
// example, or an instance built from its schema.
type Seed struct {
	Method, Path string // the spec's path template ("/snapshots/{snapshot_ref}")
	Body         []byte
}

// Seeds walks every operation of spec with a JSON request body and returns
// its examples plus two instances built from the schema: one with only the
// required properties and one with every property. They seed fuzz tests
// with what valid requests look like, so mutations reach the handlers
// behind validation.
func Seeds(spec *openapi3.T) []Seed {
	var out []Seed
	paths := spec.Paths.InMatchingOrder()
	slices.Sort(paths)
	for _, p := range paths {
		item := spec.Paths.Value(p)
		for method, op := range item.Operations() {
			if op.RequestBody == nil || op.RequestBody.Value == nil {
				continue
			}
			for ct, mt := range op.RequestBody.Value.Content {
				if !strings.Contains(ct, "json") {
					continue
				}
				add := func(v any) {
					if b, err := json.Marshal(v); err == nil {
						out = append(out, Seed{Method: method, Path: p, Body: b})
					}
				}
				if mt.Example != nil {
					add(mt.Example)
				}
				for _, ex := range mt.Examples {
					if ex.Value != nil {
						add(ex.Value.Value)
					}
				}
				if mt.Schema != nil {
					add(Instance(mt.Schema, false, 0))
					add(Instance(mt.Schema, true, 0))
				}
			}
		}
	}
	return out
}

// Instance builds a value that matches s: its example, default or first
// enum value when it has one, else a value of its type; objects hold their
// required properties, or every property when all is set.
func Instance(s *openapi3.SchemaRef, all bool, depth int) any {
	if s == nil || s.Value == nil || depth > 8 {
		return nil
	}
	v := s.Value
	switch {
	case v.Example != nil:
		return v.Example
	case v.Default != nil:
		return v.Default
	case len(v.Enum) > 0:
		return v.Enum[0]
	}
	for _, sub := range [][]*openapi3.SchemaRef{v.AllOf, v.OneOf, v.AnyOf} {
		if len(sub) > 0 {
			return Instance(sub[0], all, depth+1)
		}
	}
	switch {
	case v.Type.Is("object") || len(v.Properties) > 0:
		obj := map[string]any{}
		for name, p := range v.Properties {
			if all || slices.Contains(v.Required, name) {
				obj[name] = Instance(p, all, depth+1)
			}
		}
		return obj
	case v.Type.Is("array"):
		return []any{Instance(v.Items, all, depth+1)}
	case v.Type.Is("integer"), v.Type.Is("number"):
		if v.Min != nil {
			return *v.Min
		}
		return 1
	case v.Type.Is("boolean"):
		return true
	case v.Type.Is("string"):
		switch v.Format {
		case "date-time":
			return "2026-01-02T03:04:05Z"
		case "uuid":
			return "8d7a2c4e-0000-4000-8000-000000000000"
		}
		n := int(v.MinLength)
		return "a" + strings.Repeat("b", max(n-1, 0))
	}
	return nil
}

// HostileBodies are request bodies no client should send: broken or
// hostile JSON, wrong top-level types, huge numbers, deep nesting, bad
// UTF-8.
func HostileBodies() [][]byte {
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	deepObj := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	return [][]byte{
		nil, []byte("null"), []byte("[]"), []byte(`""`), []byte("0"), []byte("{"), []byte("}"), []byte(`{"a":}`),
		[]byte(deep), []byte(deepObj), []byte(`{"name":1e999}`), []byte(`{"timeout":-1e308}`),
		[]byte(`{"name":"a","name":"b"}`), []byte("\xef\xbb\xbf{}"), []byte("{\"name\":\"\xff\xfe\"}"),
		[]byte(`{"name":"\u0000"}`), []byte(`{"__proto__":{"admin":true}}`), []byte(`{"name":{"$ne":null}}`),
		[]byte(`{"fs_capacity_bytes":99999999999999999999999999}`), []byte(`{"limit":-9223372036854775808}`),
		[]byte(`{"metadata":{"":"x"}}`), []byte(`{"env_vars":{"LD_PRELOAD":"/tmp/x.so"}}`),
		[]byte(strings.Repeat(`{"a":1},`, 1000)), []byte("\x00\x00\x00\x00\x05{}"),
	}
}

// HostileNames are names, tags, paths and references that try traversal,
// shell metacharacters or unicode tricks. Every one must be refused where
// a name, tag or image reference is expected.
func HostileNames() []string {
	return []string{
		"../etc", "..", ".", "a/../b", "a/./b", "/abs", "/etc/passwd", "a//b", "a/", "%2e%2e%2f", "..%2f..%2fetc",
		"%2e%2e", "..\\..\\windows", "C:\\x", "a;rm -rf /", "a$(id)", "a`id`", "a|b", "a&b", "a>b", "a<b",
		"a\nb", "a\rb", "a\tb", "a b", " a", "a\x00b", "\x00", "a'b", `a"b`, "a*", "a?", "a{b}", "a$b", "~root",
		"а", // Cyrillic a: a homoglyph of "a"
		"pаypal", "a\u202eb", "a\u200bb", "a\ufeffb", "ａ", "a／b", "a＼b", "\xc0\xaf", "a\xc0\xae\xc0\xae",
		"\xe0\x80\xaf", "\xff", "A", "UPPER", "-a", "a-", "_a", "a..b", strings.Repeat("a", 256),
		strings.Repeat("a/", 200) + "a", "a\u0301", "ﬁle", "\u2024\u2024/x",
	}
}

// Deceptive reports whether s holds what no label or metadata key should:
// invalid UTF-8, control characters (NUL, newlines) or invisible format
// characters (zero-width, bidi overrides, BOM).
func Deceptive(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return true
		}
	}
	return false
}
