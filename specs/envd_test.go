package specs

import "testing"

func TestEnvdLoadsAndValidates(t *testing.T) {
	doc, err := Envd(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("want an OpenAPI 3.1 document, got %s", doc.OpenAPI)
	}
	if len(doc.Servers) != 0 {
		t.Errorf("servers not cleared: %v", doc.Servers)
	}
	// The SDKs send the token in this header.
	if got := doc.Components.SecuritySchemes["AccessToken"].Value.Name; got != "X-Access-Token" {
		t.Errorf("access token header = %q, want X-Access-Token", got)
	}
	// Every path the SDKs call, with the statuses they test for. The
	// Connect RPCs are specs/envd/*.proto's.
	ops := []struct {
		path     string
		method   string
		statuses []string
	}{
		{"/health", "GET", []string{"204", "502"}},
		{"/files", "GET", []string{"200", "400", "401", "404", "502"}},
		{"/files", "POST", []string{"200", "400", "401", "502", "507"}},
	}
	for _, o := range ops {
		item := doc.Paths.Find(o.path)
		if item == nil || item.GetOperation(o.method) == nil {
			t.Errorf("%s %s missing", o.method, o.path)
			continue
		}
		for _, st := range o.statuses {
			if item.GetOperation(o.method).Responses.Value(st) == nil {
				t.Errorf("%s %s: no %s response", o.method, o.path, st)
			}
		}
	}
	// /health is open; /files also takes a URL signature.
	if sec := doc.Paths.Find("/health").Get.Security; sec == nil || len(*sec) != 0 {
		t.Errorf("GET /health security = %v, want none", sec)
	}
	if sec := doc.Paths.Find("/files").Get.Security; sec == nil || len(*sec) != 2 {
		t.Errorf("GET /files security = %v, want token or signature", sec)
	}
	// Uploads are streamed: a declared body would make the validator read it all.
	if doc.Paths.Find("/files").Post.RequestBody != nil {
		t.Error("POST /files declares a request body; kin-openapi would buffer every upload")
	}
	if got := doc.Components.Schemas["Error"].Value.Required; len(got) != 2 || got[0] != "code" || got[1] != "message" {
		t.Errorf("Error.required = %v, want [code message]", got)
	}
}

// Like TestRequestSchemasStayWithin30, for envd's request schemas.
func TestEnvdRequestSchemasStayWithin30(t *testing.T) {
	doc, err := Envd(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := "envd " + method + " " + path
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
