package specs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	e2bapi "github.com/snapgate/snapgate/adapters/e2b/api"
	lsapi "github.com/snapgate/snapgate/adapters/langsmith/api"
)

// generateLine is the directive each generated package runs:
// //go:generate go tool oapi-codegen -config cfg.yaml <spec>.
var generateLine = regexp.MustCompile(`(?m)^//go:generate go tool oapi-codegen -config (\S+) (\S+)$`)

// TestGeneratedIsCurrent regenerates every package generated from these
// documents (adapters/*/api) into a temporary file and compares it with the
// committed output, so a spec edit without `go generate ./...` fails here,
// and so does a hand edit of generated code.
func TestGeneratedIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	dirs, err := filepath.Glob("../adapters/*/api")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no generated packages found under ../adapters/*/api")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(filepath.Dir(dir)), func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, "generate.go"))
			if err != nil {
				t.Fatal(err)
			}
			m := generateLine.FindSubmatch(src)
			if m == nil {
				t.Fatalf("%s/generate.go has no oapi-codegen directive", dir)
			}
			cfg, err := os.ReadFile(filepath.Join(dir, string(m[1])))
			if err != nil {
				t.Fatal(err)
			}
			tmp := t.TempDir()
			out := filepath.Join(tmp, "api.gen.go")
			cfgOut := regexp.MustCompile(`(?m)^output: .*$`).ReplaceAll(cfg, []byte("output: "+out))
			if err := os.WriteFile(filepath.Join(tmp, "cfg.yaml"), cfgOut, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), "go", "tool", "oapi-codegen", "-config", filepath.Join(tmp, "cfg.yaml"), string(m[2]))
			cmd.Dir = dir
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("oapi-codegen: %v\n%s", err, msg)
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, "api.gen.go"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s/api.gen.go is not what %s generates: run `go generate ./...` (first differing line: %s)", dir, m[2], firstDiff(got, want))
			}
		})
	}
}

func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return strings.TrimSpace(al[i])
		}
	}
	return "(one is a prefix of the other)"
}

// TestEmbeddedSpecsMatch loads the document each generated package embeds
// and checks it describes the same routes as the one in this directory.
// The embedded copy is oapi-codegen's rewrite (it capitalizes operation
// ids, for one), so validation keeps using the documents here, which
// TestGeneratedIsCurrent keeps in step with the generated code.
func TestEmbeddedSpecsMatch(t *testing.T) {
	for name, c := range map[string]struct {
		embedded func() (*openapi3.T, error)
		bundled  func(context.Context) (*openapi3.T, error)
	}{
		"langsmith": {lsapi.GetSpec, LangSmith},
		"e2b":       {e2bapi.GetSpec, E2B},
	} {
		emb, err := c.embedded()
		if err != nil {
			t.Fatalf("%s: embedded spec: %v", name, err)
		}
		doc, err := c.bundled(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := routes(emb), routes(doc); !slices.Equal(got, want) {
			t.Errorf("%s: embedded routes %v, bundled %v", name, got, want)
		}
	}
}

func routes(doc *openapi3.T) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	slices.Sort(out)
	return out
}
