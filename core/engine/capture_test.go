package engine_test

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/image-spec/identity"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/tests/testregistry"
)

// listing prints every file of the sandbox's root file system (but mount
// points of the runtime) with type, mode, owner, mtime, and link count and
// sha256 or link target, so two sandboxes can be compared whole. (Overlay
// reports a directory's link count differently for merged and opaque
// directories, so it is left out for directories.)
const listing = `cd / && find . -xdev \( -path ./dev -o -path ./proc -o -path ./sys -o -path ./run -o -path ./.snapgate \) -prune -o -print | sort | while read -r p; do
  [ "$p" = . ] && continue
  if [ -L "$p" ]; then x="-> $(readlink "$p")"
  elif [ -f "$p" ]; then x="$(stat -c %h "$p") $(sha256sum < "$p" | cut -c1-64)"
  else x=; fi
  echo "$p $(stat -c '%F %a %u:%g %Y' "$p") $x"
done`

// changes writes every kind of file over the image and deletes from it:
// a whiteout (/etc/group) and an opaque directory (/opt/data replaced).
const changes = `set -e
mkdir -p /work/empty
seq 1 1000 > /work/text.txt
cat > /work/random.bin
ln -s /work/text.txt /work/link
ln /work/random.bin /work/hard.bin
echo secret > /work/private && chown 1000:1000 /work/private && chmod 0700 /work/private
mkfifo /work/fifo
rm /etc/group
rm -rf /opt/data && mkdir /opt/data && echo new > /opt/data/c`

func TestCaptureFilesystem(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"copy", "diff"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			testCaptureFilesystem(t, newEnv(t, envOptions{forceDiff: path == "diff", hostUserNS: path == "diff"}), path == "copy")
		})
	}
}

func testCaptureFilesystem(t *testing.T, e *env, fast bool) {
	ctx := t.Context()
	base := e.pullSandboxImage(t, "fs", testregistry.WithFile("/opt/data/a", []byte("a")), testregistry.WithFile("/opt/data/b", []byte("b")))
	random := make([]byte, 1<<20)
	_, _ = rand.Read(random)
	sum := sha256.Sum256(random)
	sb1 := e.start(t, base)
	var errb bytes.Buffer
	if code, err := e.eng.Exec(ctx, sb1, []string{"/bin/sh", "-c", changes}, nil, bytes.NewReader(random), nil, &errb); err != nil || code != 0 {
		t.Fatalf("changes = %d, %v: %s", code, err, errb.String())
	}
	before := e.sh(t, sb1, listing)

	name1 := core.ImageRefFor("fs-1")
	got, err := e.eng.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: sb1, Name: name1})
	if err != nil {
		t.Fatalf("CaptureSandbox: %v", err)
	}
	e.wantState(t, sb1, core.RuntimeRunning)
	if got.MemoryBytes != nil || got.UnpackedBytes < 1<<20 {
		t.Errorf("CapturedImage = %+v; want no memory and at least the 1 MiB written", got)
	}
	ci := e.inspect(t, name1)
	if len(ci.manifest.Layers) != 2 {
		t.Errorf("manifest has %d layers, want the base's and one more", len(ci.manifest.Layers))
	}
	checkTopLayer(t, ci, fast)
	checkGCLabels(t, e, ci)

	sb2 := e.start(t, name1)
	if after := e.sh(t, sb2, listing); after != before {
		t.Errorf("captured file system differs:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	check := fmt.Sprintf(`set -e
test ! -e /etc/group
test "$(ls -A /opt/data)" = c
test "$(sha256sum < /work/random.bin | cut -c1-64)" = %s
test "$(stat -c '%%a %%u %%g' /work/private)" = "700 1000 1000"
test "$(readlink /work/link)" = /work/text.txt
test -d /work/empty && test -z "$(ls -A /work/empty)"
test -p /work/fifo
test "$(stat -c %%i /work/hard.bin)" = "$(stat -c %%i /work/random.bin)"`, hex.EncodeToString(sum[:]))
	e.sh(t, sb2, check)
	testCaptureOfCapture(t, e, sb2, name1, check)
}

// The sandbox's base image may go: the sandbox keeps what it needs, and a
// capture of a sandbox started from a captured image stacks a third layer.
func testCaptureOfCapture(t *testing.T, e *env, sb2, name1, check string) {
	ctx := t.Context()
	if err := e.eng.RemoveImage(ctx, name1); err != nil {
		t.Fatal(err)
	}
	e.sh(t, sb2, "echo gen2 > /work/gen2")
	name2 := core.ImageRefFor("fs-2")
	if _, err := e.eng.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: sb2, Name: name2}); err != nil {
		t.Fatalf("CaptureSandbox of a sandbox whose image was removed: %v", err)
	}
	if n := len(e.inspect(t, name2).manifest.Layers); n != 3 {
		t.Errorf("second capture has %d layers, want 3", n)
	}
	sb3 := e.start(t, name2)
	e.sh(t, sb3, check+"\ntest \"$(cat /work/gen2)\" = gen2")
}

// checkTopLayer looks at the captured layer's tar: OCI whiteouts, opaque
// marker, hard link, owners, no overlay xattrs, no runtime files.
func checkTopLayer(t *testing.T, ci capturedImage, fast bool) {
	t.Helper()
	byName := map[string]*tar.Header{}
	for _, h := range ci.top {
		byName[strings.TrimSuffix(h.Name, "/")] = h
		for k := range h.PAXRecords {
			if strings.Contains(k, "trusted.overlay") {
				t.Errorf("%s carries overlay xattr %s", h.Name, k)
			}
		}
		if fast && strings.HasPrefix(h.Name, ".snapgate") {
			t.Errorf("layer holds runtime file %s", h.Name)
		}
	}
	for _, n := range []string{"etc/.wh.group", "opt/data/c", "work/empty", "work/text.txt"} {
		if byName[n] == nil {
			t.Errorf("layer lacks %s", n)
		}
	}
	if fast && byName["opt/data/.wh..wh..opq"] == nil {
		// The diff service writes a whiteout per entry (.wh.a, .wh.b) instead.
		t.Errorf("layer lacks the opaque marker of opt/data")
	}
	if h := byName["work/private"]; h == nil || h.Mode&0o7777 != 0o700 || h.Uid != 1000 || h.Gid != 1000 {
		t.Errorf("work/private = %+v, want 0700 1000:1000", h)
	}
	if h := byName["work/link"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/work/text.txt" {
		t.Errorf("work/link = %+v, want a symlink to /work/text.txt", h)
	}
	links := 0
	for _, n := range []string{"work/hard.bin", "work/random.bin"} {
		if h := byName[n]; h != nil && h.Typeflag == tar.TypeLink {
			links++
		}
	}
	if links != 1 {
		t.Errorf("want one of work/hard.bin and work/random.bin as a hard link to the other, got %d", links)
	}
}

// checkGCLabels checks the labels that keep the image's blobs and snapshot.
func checkGCLabels(t *testing.T, e *env, ci capturedImage) {
	t.Helper()
	if ci.labels["containerd.io/gc.ref.content.config"] != ci.manifest.Config.Digest.String() {
		t.Errorf("manifest labels %v lack the config", ci.labels)
	}
	for i, l := range ci.manifest.Layers {
		if ci.labels["containerd.io/gc.ref.content.l."+strconv.Itoa(i)] != l.Digest.String() {
			t.Errorf("manifest labels %v lack layer %d", ci.labels, i)
		}
	}
	info, err := e.raw.ContentStore().Info(e.nsCtx(t.Context()), ci.manifest.Config.Digest)
	if err != nil {
		t.Fatal(err)
	}
	chain := identity.ChainID(ci.config.RootFS.DiffIDs).String()
	if got := info.Labels["containerd.io/gc.ref.snapshot.overlayfs"]; got != chain {
		t.Errorf("config snapshot label = %q, want chain ID %s", got, chain)
	}
	if n := len(ci.config.History); n != len(ci.config.RootFS.DiffIDs) {
		t.Errorf("config has %d history entries for %d layers", n, len(ci.config.RootFS.DiffIDs))
	}
}

// A process that keeps writing does not stop a capture, and keeps running
// after it.
func TestCaptureWhileWriting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	sb := e.start(t, e.pullSandboxImage(t, "writing"))
	e.sh(t, sb, `sh -c 'while true; do echo x >> /tmp/log; done' >/dev/null 2>&1 &`)
	size := func(id string) int {
		n, err := strconv.Atoi(strings.TrimSpace(e.sh(t, id, "wc -c < /tmp/log")))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	time.Sleep(100 * time.Millisecond)
	name := core.ImageRefFor("writing-1")
	if _, err := e.eng.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: sb, Name: name}); err != nil {
		t.Fatalf("CaptureSandbox: %v", err)
	}
	e.wantState(t, sb, core.RuntimeRunning)
	// Captures of one sandbox take turns freezing it: neither thaws it
	// under the other's copy, and it runs after both.
	errc := make(chan error, 2)
	for i := range 2 {
		go func() {
			_, err := e.eng.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: sb, Name: core.ImageRefFor(fmt.Sprint("writing-c", i))})
			errc <- err
		}()
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Errorf("concurrent CaptureSandbox: %v", err)
		}
	}
	e.wantState(t, sb, core.RuntimeRunning)
	first := size(sb)
	time.Sleep(100 * time.Millisecond)
	if later := size(sb); later <= first {
		t.Errorf("/tmp/log stopped growing after the capture: %d then %d bytes", first, later)
	}
	sb2 := e.start(t, name)
	if n := size(sb2); n == 0 || n%2 != 0 {
		t.Errorf("captured /tmp/log has %d bytes, want whole \"x\\n\" lines", n)
	}
	if bad := e.sh(t, sb2, `grep -cv '^x$' /tmp/log || true`); strings.TrimSpace(bad) != "0" {
		t.Errorf("captured /tmp/log has %s torn lines", bad)
	}
}

// A kill racing a capture makes the capture fail with no image recorded,
// or (when the capture won) yields a complete image.
func TestCaptureKilledConcurrently(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	base := e.pullSandboxImage(t, "killed")
	failed := 0
	for i, delay := range []time.Duration{0, 5, 10, 20, 40, 80} {
		sb := e.start(t, base)
		e.sh(t, sb, "head -c 4194304 /dev/urandom > /root/blob && sha256sum < /root/blob > /root/blob.sum")
		name := core.ImageRefFor(fmt.Sprint("killed-", i))
		errc := make(chan error, 1)
		go func() {
			_, err := e.eng.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: sb, Name: name})
			errc <- err
		}()
		time.Sleep(delay * time.Millisecond)
		if err := e.eng.KillSandbox(ctx, sb); err != nil {
			t.Fatalf("KillSandbox: %v", err)
		}
		err := <-errc
		names, _ := e.eng.ListImages(ctx)
		t.Logf("kill after %v: capture error %v", delay*time.Millisecond, err)
		if err != nil {
			failed++
			if slices.Contains(names, name) {
				t.Errorf("failed capture left image %s", name)
			}
			continue
		}
		sb2 := e.start(t, name)
		e.sh(t, sb2, `test "$(sha256sum < /root/blob)" = "$(cat /root/blob.sum)"`)
		if err := e.eng.KillSandbox(ctx, sb2); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d of 6 captures lost the race", failed)
}

// Measures (does not assert) how long a 1 MiB capture freezes the sandbox
// and takes in all, through Options.OnCapture.
func TestCaptureTimings(t *testing.T) {
	t.Parallel()
	type timing struct{ paused, total time.Duration }
	got := make(chan timing, 16)
	e := newEnv(t, envOptions{onCapture: func(p, tot time.Duration) { got <- timing{p, tot} }})
	sb := e.start(t, e.pullSandboxImage(t, "timings"))
	var paused, total []time.Duration
	for range 7 {
		e.sh(t, sb, "head -c 1048576 /dev/urandom > /root/blob")
		if _, err := e.eng.CaptureSandbox(t.Context(), core.CaptureRequest{SandboxID: sb, Name: core.ImageRefFor("timings")}); err != nil {
			t.Fatalf("CaptureSandbox: %v", err)
		}
		tm := <-got
		paused, total = append(paused, tm.paused), append(total, tm.total)
	}
	t.Logf("1 MiB capture, %d runs: frozen median %v (all %v), total median %v (all %v)",
		len(paused), median(paused), paused, median(total), total)
}

// A kill while the capture holds the sandbox frozen (copying a large upper
// directory) always fails the capture, with no image and no leftovers
// (env.cleanup checks leases and that the namespace empties).
func TestCaptureFailsWhenKilledWhileFrozen(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	base := e.pullSandboxImage(t, "frozen-kill")
	for attempt := range 3 {
		sb := e.start(t, base)
		e.sh(t, sb, "mkdir /root/many && cd /root/many && seq 1 20000 | xargs touch")
		name := core.ImageRefFor(fmt.Sprint("frozen-kill-", attempt))
		errc := make(chan error, 1)
		go func() {
			_, err := e.eng.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: sb, Name: name})
			errc <- err
		}()
		if !e.waitState(t, sb, core.RuntimePaused, errc) {
			t.Logf("attempt %d: the capture finished before the sandbox was seen frozen", attempt)
			_ = e.eng.KillSandbox(ctx, sb)
			continue
		}
		if err := e.eng.KillSandbox(ctx, sb); err != nil {
			t.Fatalf("KillSandbox: %v", err)
		}
		err := <-errc
		if err == nil {
			t.Fatalf("capture of a sandbox killed while frozen succeeded")
		}
		t.Logf("capture error: %v (public: %q)", err, core.PublicMessage(err))
		if names, _ := e.eng.ListImages(ctx); slices.Contains(names, name) {
			t.Errorf("failed capture left image %s", name)
		}
		return
	}
	t.Skip("never saw the capture freeze the sandbox")
}

// waitState polls until sandbox id is in state want (true), or until done
// delivers (false; the value is put back).
func (e *env) waitState(t *testing.T, id string, want core.RuntimeState, done chan error) bool {
	t.Helper()
	for {
		select {
		case err := <-done:
			done <- err
			return false
		default:
		}
		if st, err := e.eng.SandboxState(t.Context(), id); err == nil && st == want {
			return true
		}
	}
}
