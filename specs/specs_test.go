package specs

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func TestLangSmithLoadsAndValidates(t *testing.T) {
	doc, err := LangSmith(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("want an OpenAPI 3.1 document, got %s", doc.OpenAPI)
	}
	// The SDKs rely on these: the key header name and the routes.
	if got := doc.Components.SecuritySchemes["ApiKey"].Value.Name; got != "X-API-Key" {
		t.Errorf("api key header = %q, want X-API-Key", got)
	}
	for _, p := range []string{"/v2/sandboxes/snapshots", "/v2/sandboxes/snapshots/{snapshot_ref}", "/v2/sandboxes/registries", "/v2/sandboxes/registries/{registry_name}"} {
		if doc.Paths.Find(p) == nil {
			t.Errorf("path %s missing", p)
		}
	}
	if len(doc.Servers) != 0 {
		t.Errorf("servers not cleared: %v", doc.Servers)
	}
}

func TestE2BLoadsAndValidates(t *testing.T) {
	doc, err := E2B(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("want an OpenAPI 3.1 document, got %s", doc.OpenAPI)
	}
	// The SDKs send the key as X-API-KEY (header names are case-insensitive).
	if got := doc.Components.SecuritySchemes["ApiKeyAuth"].Value.Name; got != "X-API-Key" {
		t.Errorf("api key header = %q, want X-API-Key", got)
	}
	// Routes and the success statuses the SDKs test for.
	ops := []struct {
		method, path string
		statuses     []string
	}{
		{"POST", "/sandboxes", []string{"201"}},
		{"POST", "/v2/sandboxes", []string{"201"}},
		{"GET", "/v2/sandboxes", []string{"200"}},
		{"GET", "/sandboxes/{sandboxID}", []string{"200", "404"}},
		{"DELETE", "/sandboxes/{sandboxID}", []string{"204", "404"}},
		{"POST", "/sandboxes/{sandboxID}/connect", []string{"200", "201", "404"}},
		{"POST", "/v2/sandboxes/{sandboxID}/connect", []string{"200", "201", "404"}},
		{"POST", "/sandboxes/{sandboxID}/timeout", []string{"204", "404"}},
		{"POST", "/sandboxes/{sandboxID}/pause", []string{"204", "404", "409"}},
		{"POST", "/sandboxes/{sandboxID}/resume", []string{"201", "404"}},
		{"POST", "/sandboxes/{sandboxID}/snapshots", []string{"201", "404"}},
		{"GET", "/snapshots", []string{"200"}},
		{"DELETE", "/templates/{templateID}", []string{"204", "404"}},
	}
	for _, o := range ops {
		item := doc.Paths.Find(o.path)
		if item == nil || item.GetOperation(o.method) == nil {
			t.Errorf("%s %s missing", o.method, o.path)
			continue
		}
		if len(item.Servers) != 0 {
			t.Errorf("%s: path-level servers not cleared", o.path)
		}
		for _, st := range o.statuses {
			if item.GetOperation(o.method).Responses.Value(st) == nil {
				t.Errorf("%s %s: no %s response", o.method, o.path, st)
			}
		}
	}
	if len(doc.Servers) != 0 {
		t.Errorf("servers not cleared: %v", doc.Servers)
	}
	// Error bodies carry code and message: the JS SDK dispatches on code,
	// Python's parser needs both.
	if got := doc.Components.Schemas["Error"].Value.Required; len(got) != 2 || got[0] != "code" || got[1] != "message" {
		t.Errorf("Error.required = %v, want [code message]", got)
	}
}

// The adapters validate requests with kin-openapi's 3.0 rules (its 3.1 path
// recompiles a JSON Schema per request), so request schemas must not use
// what 3.0 lacks: a list of types (3.1's way to say nullable) is the one
// 3.1 form these documents could drift into.
func TestRequestSchemasStayWithin30(t *testing.T) {
	for name, load := range map[string]func(context.Context) (*openapi3.T, error){"langsmith": LangSmith, "e2b": E2B} {
		doc, err := load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				where := name + " " + method + " " + path
				for _, p := range append(item.Parameters, op.Parameters...) {
					check30(t, where+" parameter "+p.Value.Name, p.Value.Schema, 0)
				}
				if op.RequestBody != nil {
					for ct, mt := range op.RequestBody.Value.Content {
						check30(t, where+" body "+ct, mt.Schema, 0)
					}
				}
			}
		}
	}
}

func check30(t *testing.T, where string, ref *openapi3.SchemaRef, depth int) {
	t.Helper()
	if ref == nil || ref.Value == nil || depth > 20 {
		return
	}
	s := ref.Value
	if s.Type != nil && len(s.Type.Slice()) > 1 {
		t.Errorf("%s: type list %v is OpenAPI 3.1 only", where, s.Type.Slice())
	}
	for prop, p := range s.Properties {
		check30(t, where+"."+prop, p, depth+1)
	}
	check30(t, where+"[]", s.Items, depth+1)
	if s.AdditionalProperties.Schema != nil {
		check30(t, where+"{}", s.AdditionalProperties.Schema, depth+1)
	}
}
