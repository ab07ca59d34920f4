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
