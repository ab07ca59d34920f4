package engine

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core/engine/fdtree"
)

func TestIDClaims(t *testing.T) {
	dir := t.TempDir()
	a, err := newIDClaims(dir, "/run/ctr.sock", "ns-a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newIDClaims(dir, "/run/ctr.sock", "ns-b")
	seen := map[uint32]bool{}
	for _, c := range []*idClaims{a, a, a, b, b} {
		s, err := c.claim("box")
		if err != nil {
			t.Fatal(err)
		}
		if seen[s.base] || s.base < firstHostID || (s.base-firstHostID)%idRangeSize != 0 || uint64(s.base)+idRangeSize > 1<<32-1<<28 {
			t.Fatalf("claim gave range %d (taken: %v)", s.base, seen)
		}
		seen[s.base] = true
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 5 {
		t.Fatalf("%d claim files, want 5", len(ents))
	}
	// Another engine's claim is not released in its name, nor swept.
	var bs idShift
	for base := range seen {
		if b, _ := os.ReadFile(filepath.Join(dir, itoa(base))); string(b) == "/run/ctr.sock ns-b box\n" {
			bs = idShift{base}
		}
	}
	a.release(bs, "box")
	gone := func(string, string) (bool, error) { return false, nil }
	if err := a.sweep(gone); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("after ns-a swept all its own: %d claims left, want ns-b's 2 (too young to judge)", len(ents))
	}
	// Another containerd's claims are never judged; this one's old enough
	// are, and so are old ones of a containerd whose directory is gone.
	other, _ := newIDClaims(dir, "/run/other.sock", "ns-a")
	if _, err := other.claim("box"); err != nil {
		t.Fatal(err)
	}
	deleted, _ := newIDClaims(dir, filepath.Join(t.TempDir(), "deleted", "containerd.sock"), "ns-a")
	if _, err := deleted.claim("box"); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * claimGrace)
	ents, _ = os.ReadDir(dir)
	for _, ent := range ents {
		_ = os.Chtimes(filepath.Join(dir, ent.Name()), old, old)
	}
	if err := a.sweep(gone); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("after the old claims were judged: %d left, want the other containerd's 1", len(ents))
	}
	a2, _ := newIDClaims(dir, "/run/ctr.sock", "ns-b")
	bs, _ = a2.claim("box")
	b.release(bs, "box")
	if _, err := os.Stat(filepath.Join(dir, itoa(bs.base))); !os.IsNotExist(err) {
		t.Errorf("released claim still there: %v", err)
	}
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

func TestIDShift(t *testing.T) {
	s := idShift{base: firstHostID}
	if s.toHost(1000) != firstHostID+1000 || s.toSandbox(firstHostID+1000) != 1000 {
		t.Error("ids do not round-trip")
	}
	if s.toSandbox(0) != overflowID || s.toSandbox(firstHostID+idRangeSize) != overflowID {
		t.Error("host ids outside the range must read as nobody")
	}
	if (idShift{}).toSandbox(5) != 5 {
		t.Error("the zero shift is the identity")
	}
	// A v3 file capability naming the range's root becomes a v2 one.
	v3 := make([]byte, vfsCapV3Size)
	binary.LittleEndian.PutUint32(v3, vfsCapRevision3|1) // effective flag
	binary.LittleEndian.PutUint32(v3[4:], 1<<13)         // permitted: NET_RAW
	binary.LittleEndian.PutUint32(v3[vfsCapV2Size:], firstHostID)
	m := &fdtree.Meta{Xattrs: map[string][]byte{capabilityXattr: v3}}
	m.Stat.Uid, m.Stat.Gid = firstHostID, firstHostID+5
	s.metaToSandbox(m)
	got := m.Xattrs[capabilityXattr]
	if len(got) != vfsCapV2Size || binary.LittleEndian.Uint32(got) != vfsCapRevision2|1 || binary.LittleEndian.Uint32(got[4:]) != 1<<13 {
		t.Errorf("capability = %x, want v2 with the same sets", got)
	}
	if m.Stat.Uid != 0 || m.Stat.Gid != 5 {
		t.Errorf("owner = %d:%d, want 0:5", m.Stat.Uid, m.Stat.Gid)
	}
	other := append([]byte(nil), v3...)
	binary.LittleEndian.PutUint32(other[vfsCapV2Size:], 7)
	if got := s.capsToSandbox(other); len(got) != vfsCapV3Size {
		t.Error("another namespace's capability must stay as found")
	}
}

func TestEngineVersionsChecked(t *testing.T) {
	current := engineFacts{containerd: "v2.4.2+unknown", runc: "1.5.3", runcIDMap: true, snapshotIDMap: true, snapshotter: "overlayfs"}
	for _, c := range []struct {
		name   string
		facts  func(*engineFacts)
		userNS bool
		want   string // "" = no problem; else a word every problem list must hold
	}{
		{"current", func(*engineFacts) {}, true, ""},
		{"containerd 1.6", func(f *engineFacts) { f.containerd = "1.6.20~ds1" }, true, "containerd is 1.6.20"},
		{"containerd 1.6 even without user namespaces", func(f *engineFacts) { f.containerd = "v1.6.20" }, false, "containerd is"},
		{"runc 1.1", func(f *engineFacts) { f.runc = "1.1.5" }, false, "runc is 1.1.5"},
		{"runc 1.2", func(f *engineFacts) { f.runc = "1.2.6" }, true, "runc is 1.2.6"},
		{"runc unknown", func(f *engineFacts) { f.runc = "" }, true, "no runc version"},
		{"no idmap in runc", func(f *engineFacts) { f.runcIDMap = false }, true, "idmapped"},
		{"no idmap in the snapshotter", func(f *engineFacts) { f.snapshotIDMap = false }, true, "overlayfs cannot"},
		{"no idmap needed without user namespaces", func(f *engineFacts) { f.snapshotIDMap, f.runcIDMap = false, false }, false, ""},
	} {
		f := current
		c.facts(&f)
		got := f.problems(c.userNS)
		if c.want == "" && len(got) != 0 || c.want != "" && (len(got) == 0 || !strings.Contains(strings.Join(got, "; "), c.want)) {
			t.Errorf("%s: problems %q, want %q", c.name, got, c.want)
		}
	}
}
