package engine_test

import (
	"testing"

	"github.com/snapgate/snapgate/core"
)

// before is written before the capture, so the pre-copy (made while the
// sandbox runs) sees it; between is run after the pre-copy and before the
// freeze. The capture must hold the state after between: same-size rewrites
// with the old mtime put back, deletions, new files, a hard link changed
// through one name, a directory replaced (opaque) and one chmod-ed.
const (
	before = `set -e
mkdir -p /work/d /work/keep /work/meta
printf AAAA > /work/same
echo old > /work/modified
echo gone > /work/deleted
echo one > /work/linked && ln /work/linked /work/linked2
echo x > /work/d/x && echo k > /work/keep/k
rm /etc/group`
	between = `set -e
t=$(stat -c %Y /work/same) && printf BBBB > /work/same && touch -d @$t /work/same
echo new contents > /work/modified
rm /work/deleted
echo created > /work/created
echo two >> /work/linked2
rm -rf /work/d && mkdir /work/d && echo y > /work/d/y
chmod 0750 /work/meta && chown 1000:1000 /work/meta
mkdir /work/newdir && echo n > /work/newdir/n`
)

func TestCaptureChangesAfterPreCopy(t *testing.T) {
	t.Parallel()
	var e *env
	var sb, frozen string
	e = newEnv(t, envOptions{beforeFreeze: func() {
		e.sh(t, sb, between)
		frozen = e.sh(t, sb, listing)
	}})
	sb = e.start(t, e.pullSandboxImage(t, "precopy"))
	e.sh(t, sb, before)
	name := core.ImageRefFor("precopy-1")
	if _, err := e.eng.CaptureSandbox(t.Context(), core.CaptureRequest{SandboxID: sb, Name: name}); err != nil {
		t.Fatalf("CaptureSandbox: %v", err)
	}
	if frozen == "" {
		t.Fatal("the capture did not run the hook between pre-copy and freeze")
	}
	sb2 := e.start(t, name)
	if got := e.sh(t, sb2, listing); got != frozen {
		t.Errorf("captured file system differs from the frozen one:\nfrozen:\n%s\ncaptured:\n%s", frozen, got)
	}
	e.sh(t, sb2, `set -e
test "$(cat /work/same)" = BBBB
test "$(cat /work/modified)" = "new contents"
test ! -e /work/deleted && test ! -e /etc/group
test "$(cat /work/created)" = created
test "$(stat -c %i /work/linked)" = "$(stat -c %i /work/linked2)"
test "$(cat /work/linked)" = "$(printf 'one\ntwo')"
test "$(ls -A /work/d)" = y
test "$(stat -c '%a %u %g' /work/meta)" = "750 1000 1000"
test "$(cat /work/newdir/n)" = n`)
}
