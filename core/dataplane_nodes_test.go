package core_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
	"github.com/snapgate/snapgate/core/coretest"
)

// bounded runs op and fails the test if it does not return within a
// generous bound: a blocked open of a FIFO would otherwise hang the test.
func bounded(t *testing.T, what string, op func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- op(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		t.Fatalf("%s hung", what)
		return nil
	}
}

// wantRefused checks err is the 4xx refusal naming path and what it is.
func wantRefused(t *testing.T, what string, err error, h coretest.Hostile) {
	t.Helper()
	msg := core.PublicMessage(err)
	if !errors.Is(err, core.ErrInvalidArgument) || !strings.Contains(msg, h.Path) || !strings.Contains(msg, h.Kind) {
		t.Errorf("%s %s: %v (public %q), want ErrInvalidArgument naming the path and %q", what, h.Path, err, msg, h.Kind)
	}
}

// A sandbox's FIFOs, sockets, device nodes and proc files are refused by
// every file operation that would open them, never opened, never a hang
// and never an internal error; stat still describes them.
func TestFilesRefuseSpecialNodes(t *testing.T) {
	e := newDPEnv(t)
	f := e.files(t, "root")
	nodes := coretest.MakeHostileNodes(t, e.root(t))
	for _, h := range nodes {
		err := bounded(t, "Open "+h.Path, func(ctx context.Context) error {
			r, _, err := f.Open(ctx, h.Path)
			if err == nil {
				r.Close()
			}
			return err
		})
		wantRefused(t, "Open", err, h)
		err = bounded(t, "Write "+h.Path, func(ctx context.Context) error {
			_, err := f.Write(ctx, h.Path, strings.NewReader("overwrite"))
			return err
		})
		wantRefused(t, "Write", err, h)
		if _, err := f.Stat(t.Context(), h.Path); err != nil {
			t.Errorf("Stat %s: %v", h.Path, err)
		}
	}
	fi, err := os.Lstat(filepath.Join(e.root(t), coretest.HostileDir, "fifo"))
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO after a refused write: %v, %v", fi, err)
	}
}

// An upload onto a FIFO a sandbox process is reading from is refused
// without opening the FIFO for writing: the reader sees no writer come.
func TestFilesWriteNeverOpensFIFO(t *testing.T) {
	e := newDPEnv(t)
	f := e.files(t, "root")
	coretest.MakeHostileNodes(t, e.root(t))
	writerCame := coretest.FIFOReader(t, filepath.Join(e.root(t), coretest.HostileDir, "fifo"))
	err := bounded(t, "Write onto a FIFO", func(ctx context.Context) error {
		_, err := f.Write(ctx, coretest.HostileDir+"/fifo", strings.NewReader("to the reader"))
		return err
	})
	wantRefused(t, "Write", err, coretest.Hostile{Path: coretest.HostileDir + "/fifo", Kind: "FIFO"})
	if writerCame() {
		t.Errorf("the dataplane opened the FIFO for writing")
	}
}

// Grep and glob walk past FIFOs and device nodes (skipped, not opened:
// grep would block or read the host's device) and find the files beside.
func TestSearchSkipsSpecialNodes(t *testing.T) {
	e := newDPEnv(t)
	f := e.files(t, "root")
	coretest.MakeHostileNodes(t, e.root(t))
	if _, err := f.Write(t.Context(), coretest.HostileDir+"/a.txt", strings.NewReader("a needle\n")); err != nil {
		t.Fatal(err)
	}
	var found []core.GrepMatch
	err := bounded(t, "Grep", func(ctx context.Context) (err error) {
		found, _, err = f.Grep(ctx, coretest.HostileDir, "needle", "", core.SearchOptions{})
		return err
	})
	if err != nil || len(found) != 1 || found[0].Path != coretest.HostileDir+"/a.txt" {
		t.Errorf("Grep = %+v, %v; want the one match in a.txt", found, err)
	}
	var matches []core.FileInfo
	err = bounded(t, "Glob", func(ctx context.Context) (err error) {
		matches, _, err = f.Glob(ctx, coretest.HostileDir, "*", core.SearchOptions{})
		return err
	})
	if err != nil || len(matches) != 1 || matches[0].Name != "a.txt" {
		t.Errorf("Glob = %+v, %v; want a.txt only", matches, err)
	}
}

// The sandbox swaps a regular file for a FIFO (and back) while the
// dataplane reads and writes it: every call answers, either with the
// regular file or with the refusal, never by blocking or failing inside.
func TestFilesSwapRegularAndFIFO(t *testing.T) {
	e := newDPEnv(t)
	f := e.files(t, "root")
	dir := filepath.Join(e.root(t), "tmp")
	target := filepath.Join(dir, "swap")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		for i := 0; ctx.Err() == nil; i++ {
			tmp := filepath.Join(dir, "next")
			if i%2 == 0 {
				_ = os.WriteFile(tmp, []byte("regular"), 0o644)
			} else {
				_ = syscall.Mkfifo(tmp, 0o644)
			}
			_ = os.Rename(tmp, target)
		}
	}()
	for i := range 300 {
		err := bounded(t, "Open during swaps", func(ctx context.Context) error {
			r, _, err := f.Open(ctx, "/tmp/swap")
			if err == nil {
				r.Close()
			}
			return err
		})
		if err != nil && !errors.Is(err, core.ErrInvalidArgument) && !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("Open %d during swaps: %v", i, err)
		}
		err = bounded(t, "Write during swaps", func(ctx context.Context) error {
			_, err := f.Write(ctx, "/tmp/swap", strings.NewReader("w"))
			return err
		})
		if err != nil && !errors.Is(err, core.ErrInvalidArgument) && !errors.Is(err, core.ErrFailedPrecondition) {
			t.Fatalf("Write %d during swaps: %v", i, err)
		}
	}
	cancel()
	<-swapped
}
