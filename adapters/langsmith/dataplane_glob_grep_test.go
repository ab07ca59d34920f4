package langsmith

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDataplaneGlobGrep(t *testing.T) {
	e := newDataplaneEnv(t)
	for path, body := range map[string]string{
		"/tmp/tree/a.py":          "import os\nprint('needle here')\n",
		"/tmp/tree/sub/b.py":      "needle\n",
		"/tmp/tree/sub/c.txt":     "a needle in text\n",
		"/tmp/tree/sub/deep/d.py": "no match\n",
		"/tmp/tree/bin.dat":       "needle\x00binary",
	} {
		if resp := e.upload(t, path, strings.NewReader(body)); resp.StatusCode != 200 {
			t.Fatalf("upload %s: %d", path, resp.StatusCode)
		}
	}
	type match struct {
		Path  string `json:"path"`
		IsDir bool   `json:"is_dir,omitempty"`
		Line  int    `json:"line,omitempty"`
		Text  string `json:"text,omitempty"`
	}
	type result struct {
		Matches   []match `json:"matches"`
		Truncated bool    `json:"truncated"`
	}
	cases := []struct {
		name, op, body, key string
		status              int
		want                result
		token               string
	}{
		{"ls", "/glob", `{"pattern":"*","path":"/tmp/tree"}`, e.keyA, 200, result{Matches: []match{
			{Path: "/tmp/tree/a.py"}, {Path: "/tmp/tree/bin.dat"}, {Path: "/tmp/tree/sub", IsDir: true}}}, ""},
		{"recursive", "/glob", `{"pattern":"**/*.py","path":"/tmp/tree"}`, e.keyA, 200, result{Matches: []match{
			{Path: "/tmp/tree/a.py"}, {Path: "/tmp/tree/sub/b.py"}, {Path: "/tmp/tree/sub/deep/d.py"}}}, ""},
		{"capped", "/glob", `{"pattern":"**/*.py","path":"/tmp/tree","limit":1}`, e.keyA, 200, result{Matches: []match{
			{Path: "/tmp/tree/a.py"}}, Truncated: true}, ""},
		{"one level", "/glob", `{"pattern":"sub/*","path":"/tmp/tree"}`, e.keyA, 200, result{Matches: []match{
			{Path: "/tmp/tree/sub/b.py"}, {Path: "/tmp/tree/sub/c.txt"}, {Path: "/tmp/tree/sub/deep", IsDir: true}}}, ""},
		{"grep", "/grep", `{"pattern":"needle","path":"/tmp/tree"}`, e.keyA, 200, result{Matches: []match{
			{Path: "/tmp/tree/a.py", Line: 2, Text: "print('needle here')"},
			{Path: "/tmp/tree/sub/b.py", Line: 1, Text: "needle"},
			{Path: "/tmp/tree/sub/c.txt", Line: 1, Text: "a needle in text"}}}, ""},
		{"grep by base name", "/grep", `{"pattern":"needle","path":"/tmp/tree","glob":"*.txt"}`, e.keyA, 200, result{Matches: []match{
			{Path: "/tmp/tree/sub/c.txt", Line: 1, Text: "a needle in text"}}}, ""},
		{"grep capped", "/grep", `{"pattern":"needle","path":"/tmp/tree","limit":2}`, e.keyA, 200, result{Matches: []match{
			{Path: "/tmp/tree/a.py", Line: 2, Text: "print('needle here')"},
			{Path: "/tmp/tree/sub/b.py", Line: 1, Text: "needle"}}, Truncated: true}, ""},
		{"missing dir", "/glob", `{"pattern":"*","path":"/tmp/nope"}`, e.keyA, 404, result{}, "FileNotFound"},
		{"not a dir", "/grep", `{"pattern":"x","path":"/tmp/tree/a.py"}`, e.keyA, 400, result{}, "ReadError"},
		{"bad pattern", "/glob", `{"pattern":"[","path":"/tmp"}`, e.keyA, 400, result{}, "ReadError"},
		{"validation", "/glob", `{"path":"/tmp"}`, e.keyA, 400, result{}, "ReadError"},
		{"another tenant", "/glob", `{"pattern":"*","path":"/"}`, e.keyB, 404, result{}, "NotFound"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := e.do(t, "POST", tc.op, tc.key, strings.NewReader(tc.body), "Content-Type", "application/json")
			raw := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			if tc.token != "" {
				if !strings.Contains(raw, `"error":"`+tc.token+`"`) {
					t.Errorf("body %s, want token %s", raw, tc.token)
				}
				return
			}
			var got result
			if err := json.Unmarshal([]byte(raw), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}
