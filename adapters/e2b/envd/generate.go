package envd

// The wire types and Connect handlers of the RPCs (./api) are generated
// from specs/envd/*.proto by buf (pinned in tools/go.mod, kept out of
// snapgate's module) with protoc-gen-go and protoc-gen-connect-go (pinned by
// go.mod's tool lines). generate_test.go fails when the committed output
// differs from what this produces.
//go:generate go tool -modfile=../../../tools/go.mod buf generate ../../../specs/envd --template ../../../specs/envd/buf.gen.yaml
