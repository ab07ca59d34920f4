package specs

import (
	"testing"
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
