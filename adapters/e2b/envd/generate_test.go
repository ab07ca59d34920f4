package envd

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The committed ./api is what `go generate` makes of specs/envd: the
// //go:generate line of generate.go is run with its output in a temporary
// directory, and every file must match. The first run builds buf (minutes
// on a cold cache), so -short skips it.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerating builds buf")
	}
	src, err := os.ReadFile("generate.go")
	if err != nil {
		t.Fatal(err)
	}
	var argv []string
	for _, line := range strings.Split(string(src), "\n") {
		if cmd, ok := strings.CutPrefix(line, "//go:generate "); ok {
			argv = strings.Fields(cmd)
		}
	}
	if len(argv) == 0 {
		t.Fatal("generate.go has no //go:generate line")
	}
	out := t.TempDir()
	cmd := exec.CommandContext(t.Context(), argv[0], append(argv[1:], "-o", out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, b)
	}
	want, got := tree(t, filepath.Join(out, "api")), tree(t, "api")
	for name, b := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("api/%s is not committed: run go generate ./adapters/e2b/envd", name)
		} else if !bytes.Equal(g, b) {
			t.Errorf("api/%s differs from what go generate makes: run it", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("api/%s is not generated from specs/envd: remove it", name)
		}
	}
}

// tree reads every file under dir, by path relative to it.
func tree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
