package e2b

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/adapters/adaptertest"
	"github.com/snapgate/snapgate/adapters/e2b/api"
)

// TestHostileNamesRefused sends every hostile name (traversal, shell
// metacharacters, unicode tricks) wherever E2B takes a template or
// snapshot name: each is refused with 400 in E2B's error body. E2B's
// names are compared lower-cased and trimmed, so "UPPER" or " a" are not
// hostile there, only what stays invalid after that.
func TestHostileNamesRefused(t *testing.T) {
	s := newFuzzServer(t)
	tried := adaptertest.Tried(t)
	fields := []struct {
		name, method, path string
		body               func(n string) string
	}{
		{"templateID", "POST", "/sandboxes", func(n string) string { return `{"templateID":` + adaptertest.Quote(n) + `}` }},
		{"templateID v2", "POST", "/v2/sandboxes", func(n string) string { return `{"templateID":` + adaptertest.Quote(n) + `}` }},
		{"snapshot name", "POST", "/sandboxes/{}/snapshots", func(n string) string { return `{"name":` + adaptertest.Quote(n) + `}` }},
		{"snapshot tag", "POST", "/sandboxes/{}/snapshots", func(n string) string { return `{"name":"snap:` + strings.Trim(adaptertest.Quote(n), `"`) + `"}` }},
	}
	for _, fd := range fields {
		for i, n := range adaptertest.HostileNames() {
			if lenient(n) || fd.name == "snapshot tag" && dockerTag.MatchString(n) {
				continue
			}
			t.Run(fmt.Sprintf("%s/%d", fd.name, i), func(t *testing.T) {
				tried.Add(1)
				u := adaptertest.Target(fd.path, s.sandbox, false)
				status, out := adaptertest.Do(s.h, fd.method, u, s.hdr, []byte(fd.body(n)))
				checkRefused(t, fmt.Sprintf("%s %q", fd.name, n), status, out, http.StatusBadRequest)
			})
		}
	}
	for i, n := range adaptertest.HostileNames() {
		var sent string // as JSON carries it: invalid UTF-8 arrives as U+FFFD
		_ = json.Unmarshal([]byte(adaptertest.Quote(n)), &sent)
		if !adaptertest.Deceptive(sent) {
			continue
		}
		t.Run(fmt.Sprintf("metadata key/%d", i), func(t *testing.T) {
			tried.Add(1)
			body := `{"templateID":"img","metadata":{` + adaptertest.Quote(n) + `:"v"}}`
			status, out := adaptertest.Do(s.h, "POST", adaptertest.Target("/sandboxes", "", false), s.hdr, []byte(body))
			checkRefused(t, "metadata "+body, status, out, http.StatusBadRequest)
		})
	}
	for i, n := range adaptertest.HostileNames() {
		t.Run(fmt.Sprintf("delete template/%d", i), func(t *testing.T) {
			tried.Add(1)
			status, out := adaptertest.Do(s.h, "DELETE", adaptertest.Target("/templates/{}", n, strings.Contains(n, "%")), s.hdr, nil)
			if status == http.StatusNotFound || status == http.StatusMovedPermanently {
				return // nothing by that name; a raw "a/" is redirected by gin
			}
			checkRefused(t, fmt.Sprintf("delete template %q", n), status, out, http.StatusBadRequest)
		})
	}
}

// dockerTag is the docker tag grammar E2B's tags follow: "a-" or "_a" are
// odd names but fine tags.
var dockerTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// lenient reports names E2B accepts after lower-casing and trimming.
func lenient(n string) bool {
	switch n {
	case "A", "UPPER", " a":
		return true
	}
	return false
}

// checkRefused asserts status want with E2B's error body.
func checkRefused(t *testing.T, what string, status int, body []byte, want int) {
	t.Helper()
	var e api.Error
	if status != want || json.Unmarshal(body, &e) != nil || int(e.Code) != want || e.Message == "" {
		t.Errorf("%s: got %d %s, want %d with an E2B error body", what, status, body, want)
	}
}
