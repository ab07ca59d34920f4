package core

import (
	"strings"
	"testing"
)

func TestGlobMatching(t *testing.T) {
	cases := []struct {
		pattern, rel string
		match, enter bool // enter: a directory at rel may hold matches
	}{
		{"*", "a.txt", true, false},
		{"*", "dir/a.txt", false, false},
		{"*.py", "x.py", true, false},
		{"src/*.go", "src", false, true},
		{"src/*.go", "src/main.go", true, false},
		{"src/*.go", "lib", false, false},
		{"**/*.go", "main.go", true, true},
		{"**/*.go", "a/b/c/main.go", true, true},
		{"**", "a/b", true, true},
		{"a/**/z", "a/z", true, true},
		{"a/**/z", "a/b/c/z", true, true},
		{"a/**/z", "b/z", false, false},
		{"?.[ch]", "x.c", true, false},
		{"?.[ch]", "xy.c", false, false},
	}
	for _, tc := range cases {
		segs, err := globSegments(tc.pattern)
		if err != nil {
			t.Fatalf("globSegments(%q): %v", tc.pattern, err)
		}
		rel := strings.Split(tc.rel, "/")
		if got := matchSegments(segs, rel); got != tc.match {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.rel, got, tc.match)
		}
		if got := canDescend(segs, rel); got != tc.enter {
			t.Errorf("canDescend(%q, %q) = %v, want %v", tc.pattern, tc.rel, got, tc.enter)
		}
	}
	for _, bad := range []string{"", "/", "[a"} {
		if _, err := globSegments(bad); KindOf(err) != ErrInvalidArgument {
			t.Errorf("globSegments(%q) = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

func TestGrepFileSelector(t *testing.T) {
	cases := []struct {
		glob, rel string
		want      bool
	}{
		{"", "any/thing", true},
		{"*.py", "a.py", true},
		{"*.py", "deep/down/a.py", true}, // a bare pattern matches base names at any depth
		{"*.py", "a.go", false},
		{"src/*.py", "src/a.py", true},
		{"src/*.py", "lib/src/a.py", false},
		{"**/test_*.py", "x/y/test_a.py", true},
	}
	for _, tc := range cases {
		sel, err := fileSelector(tc.glob)
		if err != nil {
			t.Fatal(err)
		}
		if got := sel(tc.rel); got != tc.want {
			t.Errorf("fileSelector(%q)(%q) = %v, want %v", tc.glob, tc.rel, got, tc.want)
		}
	}
}

func TestLineText(t *testing.T) {
	long := strings.Repeat("a", maxGrepLine-1) + "€"
	if got := lineText([]byte(long)[:maxGrepLine]); got != strings.Repeat("a", maxGrepLine-1) {
		t.Errorf("a character cut at the limit is kept as %q", got[len(got)-3:])
	}
	if got := lineText([]byte("bad\xffbyte")); got != "bad\uFFFDbyte" {
		t.Errorf("lineText = %q", got)
	}
}
