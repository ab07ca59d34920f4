package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `make run` serves from SNAPGATE_DATA_DIR when it is set (it used to be
// replaced by the Makefile's default without a word), unless DATA_DIR is
// given in the environment or on the command line. make -n prints the
// recipe without running it, so nothing starts.
func TestMakeRunHonoursSnapgateDataDir(t *testing.T) {
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skip("no make on PATH")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"default", nil, nil, filepath.Join(root, ".snapgate")},
		{"SNAPGATE_DATA_DIR", []string{"SNAPGATE_DATA_DIR=/srv/sg"}, nil, "/srv/sg"},
		{"DATA_DIR in the environment wins", []string{"SNAPGATE_DATA_DIR=/srv/sg", "DATA_DIR=/srv/dd"}, nil, "/srv/dd"},
		{"DATA_DIR on the command line wins", []string{"SNAPGATE_DATA_DIR=/srv/sg"}, []string{"DATA_DIR=/srv/cl"}, "/srv/cl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(makeBin, append([]string{"-s", "-n", "-C", root, "run"}, tt.args...)...)
			cmd.Env = append(withoutDataDirs(os.Environ()), tt.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n run: %v\n%s", err, out)
			}
			want := `deploy/run.sh "` + tt.want + `"`
			if !strings.Contains(string(out), want) {
				t.Errorf("make -n run printed\n%s\nwant a line with %s", out, want)
			}
		})
	}
}

// withoutDataDirs drops the variables the cases set from env.
func withoutDataDirs(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "SNAPGATE_DATA_DIR=") && !strings.HasPrefix(kv, "DATA_DIR=") && !strings.HasPrefix(kv, "MAKEFLAGS=") {
			out = append(out, kv)
		}
	}
	return out
}
