package core_test

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
	"github.com/snapgate/snapgate/store"
)

// confinement is a sandbox whose root holds a farm of symlinks pointing
// out of it, next to sentinel files outside it: beside the root (in the
// engine's directory) and in an unrelated host directory.
type confinement struct {
	dp        *core.Dataplane
	tg        *core.Target
	root      string
	sentinels []string // host paths
	outside   []string // host directories whose listings must not change
	listings  map[string][]string
	passwd    []byte
}

const sentinelText = "SENTINEL: outside every sandbox"

func newConfinement(t testing.TB) *confinement {
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := coretest.NewEngine(1 << 20)
	snaps, err := core.NewSnapshots(core.SnapshotsOptions{Store: st, Engine: eng, Owner: "fuzz", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := core.NewSandboxes(core.SandboxesOptions{Store: st, Engine: eng, Snapshots: snaps, Node: "fuzz",
		Logger: slog.New(slog.DiscardHandler), DefaultImage: image})
	if err != nil {
		t.Fatal(err)
	}
	dpe := coretest.NewDataplaneEngine(t.TempDir(), nil)
	t.Cleanup(dpe.Close)
	dp, err := core.NewDataplane(core.DataplaneOptions{Store: st, Engine: dpe, Sandboxes: boxes, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	id, err := core.NewSandboxID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	token := "token-" + strings.Repeat("f", 24)
	if err := st.CreateSandbox(ctx, &core.Sandbox{ID: id, TenantID: "tenant-a", State: core.SandboxRunning, AccessToken: token,
		Node: "fuzz", VCPUs: 1, MemoryBytes: 1 << 30, StartedAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	tg, err := dp.OpenByToken(ctx, id, token)
	if err != nil {
		t.Fatal(err)
	}
	root, err := dpe.RootDir(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	c := &confinement{dp: dp, tg: tg, root: root, listings: map[string][]string{}}
	host := t.TempDir()
	c.outside = []string{filepath.Dir(root), host}
	for _, dir := range c.outside {
		p := filepath.Join(dir, "sentinel")
		if err := os.WriteFile(p, []byte(sentinelText), 0o644); err != nil {
			t.Fatal(err)
		}
		c.sentinels = append(c.sentinels, p)
	}
	if c.passwd, err = os.ReadFile(filepath.Join(root, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	for _, dir := range c.outside {
		c.listings[dir] = listing(t, dir)
	}
	return c
}

// farm (re)plants the symlinks and the account files a previous input may
// have removed.
func (c *confinement) farm(t testing.TB) {
	links := map[string]string{
		"home/user/up":       "../../../../..",
		"home/user/dotdot":   "..",
		"home/user/abs":      filepath.Dir(c.sentinels[1]),
		"home/user/sentinel": c.sentinels[1],
		"home/user/beside":   "../../../sentinel",
		"tmp/loop":           "/tmp/loop",
		"tmp/a":              "b",
		"tmp/b":              "a",
		"tmp/hostroot":       "/",
		"tmp/proc":           "/proc/self/root",
	}
	for _, d := range []string{"etc", "tmp", "home/user"} {
		_ = os.MkdirAll(filepath.Join(c.root, d), 0o755)
	}
	if err := os.WriteFile(filepath.Join(c.root, "etc/passwd"), c.passwd, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range links {
		p := filepath.Join(c.root, name)
		_ = os.RemoveAll(p)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
}

// check fails when anything outside the sandbox root changed.
func (c *confinement) check(t testing.TB, op string, args ...string) {
	for _, p := range c.sentinels {
		b, err := os.ReadFile(p)
		if err != nil || string(b) != sentinelText {
			t.Fatalf("%s %q: sentinel %s changed: %q, %v", op, args, p, b, err)
		}
	}
	for _, dir := range c.outside {
		if got := listing(t, dir); !slices.Equal(got, c.listings[dir]) {
			t.Fatalf("%s %q: %s now holds %v, want %v", op, args, dir, got, c.listings[dir])
		}
	}
}

// listing names a directory's entries, the sandbox roots excepted.
func listing(t testing.TB, dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "i") {
			continue // a sandbox root
		}
		out = append(out, e.Name())
	}
	return out
}

// FuzzFilesConfinement runs every file operation of the dataplane on
// fuzzed paths inside a sandbox holding symlinks out of it, and checks
// that no path resolves outside the sandbox, nothing read is a sentinel
// and nothing outside the root is created, changed or removed.
func FuzzFilesConfinement(f *testing.F) {
	seeds := []string{
		"", "/", ".", "..", "~", "~/", "~root", "../../../../etc/passwd", "/../../sentinel", "../sentinel",
		"%2e%2e%2fsentinel", "..%2f..%2fsentinel", "up/sentinel", "up/up/up/tmp", "dotdot/dotdot/dotdot/sentinel",
		"abs/sentinel", "sentinel", "beside", "/tmp/loop", "/tmp/a", "/tmp/hostroot/etc/passwd",
		"/tmp/proc/etc/hostname", "/proc/self/root/etc/passwd", "a\x00b", "\x00", "/etc/passwd\n",
		"..\\..\\sentinel", "／etc／passwd", "\u202e/txt.exe", "\xc0\xae\xc0\xae/sentinel", "//host/share",
		strings.Repeat("../", 100) + "sentinel", strings.Repeat("x/", 300), strings.Repeat("a", 5000),
		"$(touch /tmp/pwned)", "`id`", "a;rm -rf ..", "up/../../..", "*", "**/*", "[", "/tmp/{a,b}",
	}
	for op := range byte(9) {
		for i, s := range seeds {
			f.Add(op, s, seeds[(i+7)%len(seeds)], []byte("data"))
		}
	}
	c := newConfinement(f)
	var tried atomic.Int64
	f.Cleanup(func() { f.Logf("FuzzFilesConfinement: %d inputs tried", tried.Load()) })
	f.Fuzz(func(t *testing.T, op byte, p1, p2 string, data []byte) {
		tried.Add(1)
		c.farm(t)
		c.run(t, op, p1, p2, data)
		c.check(t, opNames[op%byte(len(opNames))], p1, p2)
	})
}

var opNames = []string{"resolve", "stat", "open", "write", "mkdir", "move", "remove", "list", "glob"}

// run applies one file operation; errors are fine, escapes are not.
func (c *confinement) run(t *testing.T, op byte, p1, p2 string, data []byte) {
	ctx := t.Context()
	user := "user"
	if op&0x80 != 0 {
		user = "root"
	}
	files, err := c.dp.Files(ctx, c.tg, user)
	if err != nil {
		t.Fatalf("Files(%s): %v", user, err)
	}
	defer files.Close()
	opt := core.SearchOptions{Limit: 50, Deadline: time.Second}
	switch opNames[op%byte(len(opNames))] {
	case "resolve":
		abs, err := files.Resolve(p1)
		if err == nil && (abs != path.Clean(abs) || !path.IsAbs(abs) || strings.Contains(abs, "\x00")) {
			t.Fatalf("Resolve(%q) = %q: not an absolute clean in-sandbox path", p1, abs)
		}
	case "stat":
		_, _ = files.Stat(ctx, p1)
	case "open":
		r, _, err := files.Open(ctx, p1)
		if err != nil {
			return
		}
		defer r.Close()
		b, _ := io.ReadAll(io.LimitReader(r, 1<<16))
		if bytes.Contains(b, []byte(sentinelText)) {
			t.Fatalf("Open(%q) read a sentinel outside the sandbox", p1)
		}
	case "write":
		// Files written inside may not hold the sentinel's text, or
		// reading them back would look like an escape.
		for bytes.Contains(data, []byte(sentinelText)) {
			data = bytes.ReplaceAll(data, []byte(sentinelText), nil)
		}
		_, _ = files.Write(ctx, p1, bytes.NewReader(data))
	case "mkdir":
		_, _, _ = files.MakeDir(ctx, p1)
	case "move":
		_, _ = files.Move(ctx, p1, p2)
	case "remove":
		_ = files.Remove(ctx, p1)
	case "list":
		_, _ = files.List(ctx, p1, 3)
	case "glob":
		found, _, _ := files.Glob(ctx, p1, p2, opt)
		grep, _, _ := files.Grep(ctx, p1, sentinelText, p2, opt)
		if len(grep) > 0 {
			t.Fatalf("Grep(%q, glob %q) found a sentinel: %+v (of %d globbed)", p1, p2, grep, len(found))
		}
	}
}
