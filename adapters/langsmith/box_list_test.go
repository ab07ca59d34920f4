package langsmith

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/snapgate/snapgate/core"
)

// listBoxFields are listBoxes' rows: paging (pagingFields) plus the
// filters and sorts Stainless's boxes.list sends.
func listBoxFields() opFields {
	rows := pagingFields("/boxes", "sandboxes", func(t *testing.T, e *fieldEnv) {
		for _, n := range []string{"fld-1", "fld-2", "fld-3"} {
			wantStatus(t, e.ls(t, "POST", "/boxes", `{"name":"`+n+`"}`), 201)
		}
	})
	rows["?label"] = fieldRow{honoured: "key: boxes with that label; key=value: with that value; repeated: all of them", check: func(t *testing.T, e *fieldEnv) {
		seedBoxes(t, e)
		for _, tc := range []struct {
			labels []string
			want   []string
		}{
			{[]string{"team=ml"}, []string{"lb-b", "lb-a"}},
			{[]string{"env"}, []string{"lb-a"}},
			{[]string{"team=ml", "env=prod"}, []string{"lb-a"}},
			{[]string{"team"}, []string{"lb-c", "lb-b", "lb-a"}},
			{[]string{"team=ml", "team=web"}, nil},
			{[]string{"absent"}, nil},
		} {
			if got := e.boxNames(t, url.Values{"label": tc.labels}); !slices.Equal(got, tc.want) {
				t.Errorf("label %q: %v, want %v", tc.labels, got, tc.want)
			}
		}
		wantRefused(t, e.ls(t, "GET", "/boxes?label==v", ""), 422, "ValidationError", "label")
	}}
	rows["?status"] = fieldRow{honoured: "boxes in that status; failed and deleting list none", refused: "another value: 422 naming status", check: func(t *testing.T, e *fieldEnv) {
		seedBoxes(t, e)
		wantStatus(t, e.ls(t, "POST", "/boxes/lb-b/stop", "{}"), 204)
		for status, want := range map[string][]string{
			"stopped": {"lb-b"}, "ready": {"lb-c", "lb-a"}, "provisioning": nil, "failed": nil, "deleting": nil,
		} {
			if got := e.boxNames(t, url.Values{"status": {status}}); !slices.Equal(got, want) {
				t.Errorf("status %s: %v, want %v", status, got, want)
			}
		}
		wantRefused(t, e.ls(t, "GET", "/boxes?status=running", ""), 422, "ValidationError", "status")
	}}
	rows["?sort_by"] = fieldRow{honoured: "sorts by that column, then created_at", refused: "another column: 422 naming sort_by", check: func(t *testing.T, e *fieldEnv) {
		seedBoxes(t, e)
		wantStatus(t, e.ls(t, "POST", "/boxes/lb-c/stop", "{}"), 204)
		for _, tc := range []struct {
			sort, order string
			want        []string
		}{
			{"name", "asc", []string{"lb-a", "lb-b", "lb-c"}},
			{"name", "", []string{"lb-c", "lb-b", "lb-a"}},
			{"idle_ttl_seconds", "asc", []string{"lb-c", "lb-b", "lb-a"}},
			{"delete_after_stop_seconds", "desc", []string{"lb-b", "lb-c", "lb-a"}},
			{"status", "asc", []string{"lb-a", "lb-b", "lb-c"}},     // ready before stopped
			{"stopped_at", "asc", []string{"lb-c", "lb-a", "lb-b"}}, // never stopped: last, by creation
			{"created_at", "asc", []string{"lb-a", "lb-b", "lb-c"}},
		} {
			q := url.Values{"sort_by": {tc.sort}}
			if tc.order != "" {
				q.Set("sort_order", tc.order)
			}
			if got := e.boxNames(t, q); !slices.Equal(got, tc.want) {
				t.Errorf("sort_by %s %s: %v, want %v", tc.sort, tc.order, got, tc.want)
			}
		}
		wantRefused(t, e.ls(t, "GET", "/boxes?sort_by=size", ""), 422, "ValidationError", "sort_by")
	}}
	rows["?sort_order"] = fieldRow{honoured: "asc: oldest first; desc (the default): newest first", refused: "another value: 422 naming sort_order", check: func(t *testing.T, e *fieldEnv) {
		seedBoxes(t, e)
		if got := e.boxNames(t, url.Values{"sort_order": {"asc"}}); !slices.Equal(got, []string{"lb-a", "lb-b", "lb-c"}) {
			t.Errorf("sort_order asc: %v", got)
		}
		if got := e.boxNames(t, url.Values{"sort_order": {"desc"}, "sort_direction": {"asc"}}); !slices.Equal(got, []string{"lb-c", "lb-b", "lb-a"}) {
			t.Errorf("sort_order desc beside sort_direction asc: %v", got)
		}
		wantRefused(t, e.ls(t, "GET", "/boxes?sort_order=up", ""), 422, "ValidationError", "sort_order")
	}}
	rows["?sort_direction"] = fieldRow{honoured: "sort_order's deprecated name", refused: "another value: 422 naming sort_direction", check: func(t *testing.T, e *fieldEnv) {
		seedBoxes(t, e)
		if got := e.boxNames(t, url.Values{"sort_direction": {"asc"}}); !slices.Equal(got, []string{"lb-a", "lb-b", "lb-c"}) {
			t.Errorf("sort_direction asc: %v", got)
		}
		wantRefused(t, e.ls(t, "GET", "/boxes?sort_direction=up", ""), 422, "ValidationError", "sort_direction")
	}}
	return rows
}

// seedBoxes creates lb-a, lb-b and lb-c, in that order, with labels and
// TTLs that sort differently from their names.
func seedBoxes(t *testing.T, e *fieldEnv) {
	t.Helper()
	for _, body := range []string{
		`{"name":"lb-a","labels":{"team":"ml","env":"prod"},"idle_ttl_seconds":600}`,
		`{"name":"lb-b","labels":{"team":"ml"},"idle_ttl_seconds":300,"delete_after_stop_seconds":3600}`,
		`{"name":"lb-c","labels":{"team":"web"},"idle_ttl_seconds":120,"delete_after_stop_seconds":60}`,
	} {
		wantStatus(t, e.ls(t, "POST", "/boxes", body), 201)
	}
}

// boxNames lists tenant A's boxes named lb-* with query q.
func (e *fieldEnv) boxNames(t *testing.T, q url.Values) []string {
	t.Helper()
	q.Set("name_contains", "lb-")
	r := e.ls(t, "GET", "/boxes?"+q.Encode(), "")
	wantStatus(t, r, 200)
	var out []string
	for _, it := range r.body["sandboxes"].([]any) {
		out = append(out, it.(map[string]any)["name"].(string))
	}
	return out
}

// With validation off the handler still refuses what it cannot read,
// naming the parameter, and maps the rest onto core's filter.
func TestBoxFilter(t *testing.T) {
	tests := []struct {
		query   string
		want    core.SandboxFilter
		none    bool
		refused string
	}{
		{"", core.SandboxFilter{}, false, ""},
		{"label=a&label=b%3D1&label=c%3D", core.SandboxFilter{MetadataKeys: []string{"a"}, Metadata: map[string]string{"b": "1", "c": ""}}, false, ""},
		{"label=b%3D1&label=b%3D2", core.SandboxFilter{}, true, ""},
		{"status=ready&sort_by=stopped_at&sort_direction=asc", core.SandboxFilter{States: []core.SandboxState{core.SandboxRunning}, Sort: core.SortPaused, Ascending: true}, false, ""},
		{"status=deleting", core.SandboxFilter{}, true, ""},
		{"label=%3Dv", core.SandboxFilter{}, false, "label"},
		{"status=running", core.SandboxFilter{}, false, "status"},
		{"sort_by=size", core.SandboxFilter{}, false, "sort_by"},
		{"sort_order=up", core.SandboxFilter{}, false, "sort_order"},
		{"sort_direction=up", core.SandboxFilter{}, false, "sort_direction"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = httptest.NewRequest("GET", "/boxes?"+tt.query, nil)
			got, none, err := boxFilter(c)
			if tt.refused != "" {
				if !errors.Is(err, core.ErrInvalidArgument) || !strings.Contains(err.Error(), `"`+tt.refused+`"`) {
					t.Errorf("error %v, want ErrInvalidArgument naming %q", err, tt.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if none != tt.none {
				t.Errorf("none = %v, want %v", none, tt.none)
			}
			if !tt.none {
				if d := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); d != "" {
					t.Errorf("filter (-want +got):\n%s", d)
				}
			}
		})
	}
}
