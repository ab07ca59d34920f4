package langsmith

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

// TestHostileNamesRefused sends every hostile name (traversal, shell
// metacharacters, unicode tricks) wherever LangSmith takes a name: each is
// refused with 422 ValidationError, nothing is created. Lookups by such a
// name find nothing (404) or are refused (422). Image references are
// checked by the engine's parser (core/engine TestHostileReferencesRefused).
func TestHostileNamesRefused(t *testing.T) {
	s := newFuzzServer(t)
	if st, out := adaptertest.Do(s.h, "POST", adaptertest.Target("/v2/sandboxes/registries", "", false), s.hdr,
		[]byte(`{"name":"reg","url":"https://registry.example.com"}`)); st != http.StatusCreated {
		t.Fatalf("create registry: %d %s", st, out)
	}
	tried := adaptertest.Tried(t)
	fields := []struct {
		name, method, path string
		body               func(n string) string
	}{
		{"snapshot name", "POST", "/v2/sandboxes/snapshots", func(n string) string {
			return `{"name":` + adaptertest.Quote(n) + `,"docker_image":"busybox","fs_capacity_bytes":1}`
		}},
		{"registry name", "POST", "/v2/sandboxes/registries", func(n string) string {
			return `{"name":` + adaptertest.Quote(n) + `,"url":"https://registry.example.com"}`
		}},
		{"registry rename", "PATCH", "/v2/sandboxes/registries/reg", func(n string) string { return `{"name":` + adaptertest.Quote(n) + `}` }},
		{"box name", "POST", "/v2/sandboxes/boxes", func(n string) string { return `{"name":` + adaptertest.Quote(n) + `}` }},
		{"box rename", "PATCH", "/v2/sandboxes/boxes/dp-box", func(n string) string { return `{"name":` + adaptertest.Quote(n) + `}` }},
		{"capture name", "POST", "/v2/sandboxes/boxes/dp-box/snapshot", func(n string) string { return `{"name":` + adaptertest.Quote(n) + `}` }},
	}
	for _, fd := range fields {
		for i, n := range adaptertest.HostileNames() {
			t.Run(fmt.Sprintf("%s/%d", fd.name, i), func(t *testing.T) {
				tried.Add(1)
				u := adaptertest.Target(fd.path, "", false)
				status, out := adaptertest.Do(s.h, fd.method, u, s.hdr, []byte(fd.body(n)))
				checkRefused(t, fmt.Sprintf("%s %q", fd.name, n), status, out, http.StatusUnprocessableEntity)
			})
		}
	}
	lookups := []string{"/v2/sandboxes/snapshots/{}", "/v2/sandboxes/registries/{}", "/v2/sandboxes/boxes/{}", "/dataplane/{}/glob"}
	for _, path := range lookups {
		for i, n := range adaptertest.HostileNames() {
			for _, raw := range []bool{false, true} {
				t.Run(fmt.Sprintf("lookup %s/%d/raw=%v", path, i, raw), func(t *testing.T) {
					tried.Add(1)
					method, body := "GET", []byte(nil)
					if strings.HasSuffix(path, "glob") {
						method, body = "POST", []byte(`{"pattern":"*","path":"/"}`)
					}
					status, out := adaptertest.Do(s.h, method, adaptertest.Target(path, n, raw), s.hdr, body)
					switch status {
					case http.StatusBadRequest, http.StatusUnprocessableEntity:
						status = http.StatusNotFound // refused is as good as not found
					case http.StatusMovedPermanently:
						return // gin's trailing-slash redirect of a raw "a/"
					case http.StatusOK:
						// Lookups compare names case-insensitively and
						// trimmed; what they find has a valid name.
						var found struct{ Name string }
						if json.Unmarshal(out, &found) == nil && core.ValidateName("name", found.Name) == nil {
							return
						}
					}
					checkRefused(t, fmt.Sprintf("lookup %s %q", path, n), status, out, http.StatusNotFound)
				})
			}
		}
	}
}

// TestHostileLabelKeysRefused: label keys are names too; control and
// invisible format characters (newlines, NUL, zero-width, bidi overrides)
// are refused in keys, NUL in values.
func TestHostileLabelKeysRefused(t *testing.T) {
	s := newFuzzServer(t)
	tried := adaptertest.Tried(t)
	for i, n := range adaptertest.HostileNames() {
		var sent string // as JSON carries it: invalid UTF-8 arrives as U+FFFD
		_ = json.Unmarshal([]byte(adaptertest.Quote(n)), &sent)
		if !adaptertest.Deceptive(sent) {
			continue
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			tried.Add(1)
			body := `{"labels":{` + adaptertest.Quote(n) + `:"v"}}`
			status, out := adaptertest.Do(s.h, "POST", adaptertest.Target("/v2/sandboxes/boxes", "", false), s.hdr, []byte(body))
			checkRefused(t, "labels "+body, status, out, http.StatusUnprocessableEntity)
		})
	}
	tried.Add(1)
	body := `{"labels":{"k":"a\u0000b"}}`
	status, out := adaptertest.Do(s.h, "PATCH", adaptertest.Target("/v2/sandboxes/boxes/dp-box", "", false), s.hdr, []byte(body))
	checkRefused(t, "labels "+body, status, out, http.StatusUnprocessableEntity)
}

// checkRefused asserts status want with LangSmith's error body.
func checkRefused(t *testing.T, what string, status int, body []byte, want int) {
	t.Helper()
	var e api.SandboxesErrorResponse
	if status != want || json.Unmarshal(body, &e) != nil || e.Detail.Error == "" || e.Detail.Message == "" {
		t.Errorf("%s: got %d %s, want %d with a LangSmith error body", what, status, body, want)
	}
}
