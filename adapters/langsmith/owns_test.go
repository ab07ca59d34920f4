package langsmith

import "testing"

func TestOwnsItsPathsOnly(t *testing.T) {
	for path, want := range map[string]bool{
		"/api/v2/sandboxes/boxes/x":  true,
		"/v2/sandboxes/snapshots":    true,
		"/dataplane/ibox/nope":       true,
		"/v2/sandboxes/ixyz/connect": false, // E2B's
		"/files":                     false, // E2B envd
		"/process.Process/Start":     false,
	} {
		if got := Owns(path); got != want {
			t.Errorf("Owns(%q) = %v, want %v", path, got, want)
		}
	}
}
