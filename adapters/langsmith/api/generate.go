// Package api holds LangSmith's wire types and its embedded OpenAPI
// document, generated from specs/langsmith.yaml by oapi-codegen (pinned by
// the tool line in go.mod). Never edit api.gen.go: change the spec and run
// `go generate ./...`; TestGeneratedIsCurrent fails when the two differ.
package api

//go:generate go tool oapi-codegen -config cfg.yaml ../../../specs/langsmith.yaml
