package core_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/core"
)

func TestValidateMetadataRefusesDeceptiveKeys(t *testing.T) {
	cases := []struct {
		name string
		m    map[string]string
		ok   bool
	}{
		{"plain", map[string]string{"team": "ml", "owner.email": "a@b.c", "note": "multi\nline value"}, true},
		{"unicode letters", map[string]string{"équipe": "données"}, true},
		{"empty key", map[string]string{"": "v"}, false},
		{"newline in key", map[string]string{"a\nb": "v"}, false},
		{"NUL in key", map[string]string{"a\x00b": "v"}, false},
		{"RTL override in key", map[string]string{"a\u202eb": "v"}, false},
		{"zero-width space in key", map[string]string{"a\u200bb": "v"}, false},
		{"BOM in key", map[string]string{"\ufeffa": "v"}, false},
		{"invalid UTF-8 in key", map[string]string{"a\xffb": "v"}, false},
		{"NUL in value", map[string]string{"k": "a\x00b"}, false},
		{"invalid UTF-8 in value", map[string]string{"k": "\xc0\xaf"}, false},
		{"long key", map[string]string{strings.Repeat("k", 257): "v"}, false},
		{"long value", map[string]string{"k": strings.Repeat("v", 4097)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := core.ValidateMetadata("metadata", tc.m)
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, core.ErrInvalidArgument) {
				t.Errorf("ValidateMetadata(%q) = %v, want ok=%v", tc.m, err, tc.ok)
			}
		})
	}
}

func TestValidateEnvRefusesNUL(t *testing.T) {
	for _, env := range []map[string]string{{"": "v"}, {"A=B": "v"}, {"A\x00": "v"}, {"A": "x\x00y"}} {
		if err := core.ValidateEnv("env", env); !errors.Is(err, core.ErrInvalidArgument) {
			t.Errorf("ValidateEnv(%q) = %v, want ErrInvalidArgument", env, err)
		}
	}
	if err := core.ValidateEnv("env", map[string]string{"PATH": "/bin", "weird-name.x": "a b\n"}); err != nil {
		t.Errorf("plain env refused: %v", err)
	}
}

func TestValidateNameRefusesTricks(t *testing.T) {
	for _, n := range []string{"../etc", "..", "a/../b", "/abs", "a/", "a//b", "%2e%2e%2f", "a;b", "a$(id)", "a`id`",
		"a\nb", "a\n", "a\x00", "а", "a\u202eb", "ａ", "a／b", "\xc0\xae", "A", "a..b", "-a", strings.Repeat("a", 256)} {
		if err := core.ValidateName("name", n); !errors.Is(err, core.ErrInvalidArgument) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidArgument", n, err)
		}
	}
	for _, n := range []string{"a", "python-base", "team/snap.v1", "a_b-c.d/e"} {
		if err := core.ValidateName("name", n); err != nil {
			t.Errorf("ValidateName(%q) = %v", n, err)
		}
	}
}

func TestLookupRefusesMalformedReferences(t *testing.T) {
	e := newEnv(t, "node-1")
	for _, ref := range []string{"../etc", "a;rm -rf /", "a$(id)", "a\nb", "a\u202eb", "img:..\x00", "img:a/b", "img:$(id)", "/abs"} {
		if _, err := e.svc.Lookup(e.ctx, ref); !errors.Is(err, core.ErrInvalidArgument) {
			t.Errorf("Lookup(%q) = %v, want ErrInvalidArgument", ref, err)
		}
	}
	for _, ref := range []string{"nope", "tenant-a/nope:v1", "Nope", " nope ", "8d7a2c4e-0000-4000-8000-000000000000"} {
		if _, err := e.svc.Lookup(e.ctx, ref); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Lookup(%q) = %v, want ErrNotFound", ref, err)
		}
	}
}

func TestCaptureRefusesUnnormalizedNames(t *testing.T) {
	e := newBoxEnv(t)
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"UPPER", " a", "a\n", "../x"} {
		if _, err := e.boxes.Capture(e.ctx, sb.ID, core.CaptureSnapshotRequest{Name: name}); !errors.Is(err, core.ErrInvalidArgument) {
			t.Errorf("Capture(name %q) = %v, want ErrInvalidArgument", name, err)
		}
	}
}
