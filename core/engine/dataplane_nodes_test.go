package engine_test

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/engine"
	"github.com/snapgate/snapgate/tests/testregistry"
)

// An image brings the device numbers of /dev/null and /dev/zero (in its
// user namespace a sandbox can no longer make device nodes itself) and
// the sandbox makes a FIFO; host-side file calls refuse them and the
// sandbox's own /proc files without opening them, and grep walks past.
func TestDataplaneRefusesSpecialNodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.start(t, e.pullSandboxImage(t, "dpnodes",
		testregistry.WithEntry(tar.Header{Name: "/tmp/h/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}, nil),
		testregistry.WithEntry(tar.Header{Name: "/tmp/h/zero", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 5}, nil)))
	e.sh(t, id, `cd /tmp/h && mkfifo fifo && echo needle > a.txt
		if mknod made c 1 3 2>/dev/null; then echo "mknod worked in the sandbox" >&2; exit 1; fi`)
	dp, tg := e.dataplane(t, id)
	f, err := dp.Files(t.Context(), tg, "root")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	nodes := map[string]string{
		"/tmp/h/fifo": "FIFO", "/tmp/h/null": "character device", "/tmp/h/zero": "character device",
		"/proc/1/mem": "proc", "/proc/1/environ": "proc", "/proc/1/fd/2": "character device", // pid 1's stderr: /dev/null
		"/sys/kernel/mm/transparent_hugepage/enabled": "sysfs",
	}
	for p, kind := range nodes {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		errc := make(chan error, 2)
		go func() {
			r, _, err := f.Open(ctx, p)
			if err == nil {
				r.Close()
			}
			errc <- err
			_, err = f.Write(ctx, p, strings.NewReader("x"))
			errc <- err
		}()
		for _, op := range []string{"Open", "Write"} {
			select {
			case err := <-errc:
				msg := core.PublicMessage(err)
				// /sys is read-only in the sandbox: a write may fail there
				// as EROFS first, which is a 4xx too.
				if (!errors.Is(err, core.ErrInvalidArgument) || !strings.Contains(msg, p) || !strings.Contains(msg, kind)) &&
					!(op == "Write" && errors.Is(err, core.ErrPermissionDenied)) {
					t.Errorf("%s %s: %v (public %q), want a refusal naming it and %q", op, p, err, msg, kind)
				}
			case <-ctx.Done():
				t.Fatalf("%s %s hung", op, p)
			}
		}
		cancel()
	}
	// /proc/self names no process of the sandbox as snapgate sees it.
	if _, _, err := f.Open(t.Context(), "/proc/self/environ"); err == nil || core.KindOf(err) == nil {
		t.Errorf("Open /proc/self/environ: %v, want a 4xx kind", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	found, _, err := f.Grep(ctx, "/tmp/h", "needle", "", core.SearchOptions{})
	if err != nil || len(found) != 1 || found[0].Path != "/tmp/h/a.txt" {
		t.Errorf("Grep = %+v, %v; want a.txt only", found, err)
	}
	if got := e.sh(t, id, "stat -c %F /tmp/h/fifo /tmp/h/null"); got != "fifo\ncharacter special file\n" {
		t.Errorf("the nodes after the refused writes: %q", got)
	}
}

// Write and Move issued while a capture has the sandbox frozen land only
// after the thaw: they wait on the files lock the capture holds, the tree
// is unchanged while frozen, and reads go on meanwhile.
func TestDataplaneChangesWaitForCaptureThaw(t *testing.T) {
	t.Parallel()
	var hook atomic.Value // func(), set before the capture
	e := newEnv(t, envOptions{fault: func(point string) {
		if f, ok := hook.Load().(func()); ok && point == engine.FaultCaptureAfterFreeze {
			f()
		}
	}})
	id := e.start(t, e.pullSandboxImage(t, "dpthaw"))
	e.sh(t, id, "echo src > /tmp/src")
	dp, tg := e.dataplane(t, id)
	f, err := dp.Files(t.Context(), tg, "root")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	root, err := engine.RootDir(t.Context(), e.eng, id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	changes := make(chan error, 2)
	hooked := false
	hook.Store(func() {
		hooked = true
		go func() {
			_, err := f.Write(ctx, "/tmp/during", strings.NewReader("written while frozen"))
			changes <- err
		}()
		go func() {
			_, err := f.Move(ctx, "/tmp/src", "/tmp/moved")
			changes <- err
		}()
		// Both wait on the lock, or one landed while frozen (the bug).
		for engine.FileHoldWaiters(e.eng, id) < 2 {
			select {
			case err := <-changes:
				t.Errorf("a change completed while the sandbox was frozen (err %v)", err)
				changes <- err
				return
			case <-ctx.Done():
				t.Fatalf("the changes never reached the files lock")
			default:
				time.Sleep(time.Millisecond) // polling, not a bound
			}
		}
		if _, err := os.Lstat(filepath.Join(root, "tmp/during")); err == nil {
			t.Errorf("/tmp/during exists while frozen")
		}
		if _, err := os.Lstat(filepath.Join(root, "tmp/src")); err != nil {
			t.Errorf("/tmp/src moved while frozen: %v", err)
		}
		if _, err := f.Stat(ctx, "/tmp/src"); err != nil {
			t.Errorf("a read while frozen: %v", err)
		}
	})
	if _, err := e.eng.CaptureSandbox(ctx, core.CaptureRequest{SandboxID: id, Name: core.ImageRefFor("dpthaw-cap")}); err != nil {
		t.Fatalf("capture: %v", err)
	}
	if !hooked {
		t.Fatal("the capture never froze the sandbox")
	}
	for range 2 {
		select {
		case err := <-changes:
			if err != nil {
				t.Errorf("change after the thaw: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("the changes never completed after the thaw")
		}
	}
	if got := e.sh(t, id, "cat /tmp/during /tmp/moved"); got != "written while frozensrc\n" {
		t.Errorf("after the thaw the sandbox has %q", got)
	}
}
