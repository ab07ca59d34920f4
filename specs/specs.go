// Package specs holds the vendor OpenAPI documents snapgate serves, embedded
// so the binary validates requests against exactly the documents in this
// directory, and (envd/, not embedded) the .proto files of envd's Connect
// RPCs, from which adapters/e2b/envd/api is generated. It imports
// kin-openapi only.
package specs

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:embed langsmith.yaml
var langsmithYAML []byte

//go:embed e2b.yaml
var e2bYAML []byte

//go:embed envd.yaml
var envdYAML []byte

// LangSmith returns the parsed, validated LangSmith document with every
// `servers` entry removed: the request router matches servers, and snapgate
// is reached under whatever host the operator chooses.
func LangSmith(ctx context.Context) (*openapi3.T, error) {
	return load(ctx, "langsmith.yaml", langsmithYAML)
}

// E2B returns the parsed, validated E2B platform API document, with every
// `servers` entry removed as for LangSmith.
func E2B(ctx context.Context) (*openapi3.T, error) {
	return load(ctx, "e2b.yaml", e2bYAML)
}

// Envd returns the parsed, validated document of the plain HTTP part of
// E2B's in-sandbox API (envd: /health and /files), with every `servers`
// entry removed as for the others. envd's Connect RPCs are described by
// envd/*.proto instead.
func Envd(ctx context.Context) (*openapi3.T, error) {
	return load(ctx, "envd.yaml", envdYAML)
}

func load(ctx context.Context, name string, data []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate %s: %w", name, err)
	}
	doc.Servers = nil
	for _, item := range doc.Paths.Map() {
		item.Servers = nil
		for _, op := range item.Operations() {
			op.Servers = nil
		}
	}
	return doc, nil
}
