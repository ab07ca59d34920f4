package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/snapgate/snapgate/core"
)

// ingestChunk is the size of each content-store write. Every write is one
// blocking gRPC round trip, so tar's 512-byte headers and 32 KiB copies
// must be gathered first, or a layer of many small files costs a round
// trip per header.
const ingestChunk = 1 << 20

// uncompressedLabel tells containerd a layer blob's diff ID.
const uncompressedLabel = "containerd.io/uncompressed"

// writeLayerBlob streams the upper directory dir as a plain tar layer into
// the content store (inside the caller's lease) and returns its
// descriptor. For a plain tar the blob digest is the diff ID. Never
// gzipped here: compressing random data costs seconds and saves nothing. A
// layer growing past max bytes (0: no bound) fails with
// ErrFailedPrecondition before more reaches the store.
func (e *Engine) writeLayerBlob(ctx context.Context, dir string, max int64) (ocispec.Descriptor, error) {
	cs := e.client.ContentStore()
	ref := "snapgate-layer-" + randomID()
	cw, err := content.OpenWriter(ctx, cs, content.WithRef(ref))
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("open layer writer: %w", err)
	}
	committed := false
	defer func() {
		_ = cw.Close()
		if !committed {
			_ = cs.Abort(context.WithoutCancel(ctx), ref)
		}
	}()
	pw := newPipeWriter(cw, ingestChunk)
	dg := digest.SHA256.Digester()
	cnt := &countWriter{max: max}
	werr := writeLayer(dir, io.MultiWriter(cnt, dg.Hash(), pw))
	if errors.Is(werr, errLayerTooLarge) {
		return ocispec.Descriptor{}, core.WithCause(core.ErrFailedPrecondition, werr,
			"the sandbox's changes would take more than %d bytes in a snapshot (sparse files count whole there): remove or shrink large files and capture again", max)
	}
	if err := errors.Join(werr, pw.Close()); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("write layer: %w", err)
	}
	d := dg.Digest()
	err = cw.Commit(ctx, cnt.n, d, content.WithLabels(map[string]string{uncompressedLabel: d.String()}))
	if err != nil && !errdefs.IsAlreadyExists(err) {
		return ocispec.Descriptor{}, fmt.Errorf("commit layer: %w", err)
	}
	committed = true
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: d, Size: cnt.n}, nil
}

func jsonDesc(mediaType string, b []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

// writeBlob stores a small blob (config, manifest) with its labels.
func (e *Engine) writeBlob(ctx context.Context, desc ocispec.Descriptor, b []byte, labels map[string]string) error {
	err := content.WriteBlob(ctx, e.client.ContentStore(), "snapgate-blob-"+desc.Digest.Encoded(),
		bytes.NewReader(b), desc, content.WithLabels(labels))
	if err != nil {
		return fmt.Errorf("write %s: %w", desc.MediaType, err)
	}
	return nil
}

// errLayerTooLarge stops a layer at countWriter's bound.
var errLayerTooLarge = errors.New("layer larger than its bound")

// countWriter counts bytes, refusing more than max (0: no bound).
type countWriter struct{ n, max int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	if c.max > 0 && c.n+int64(len(p)) > c.max {
		return 0, errLayerTooLarge
	}
	c.n += int64(len(p))
	return len(p), nil
}

// pipeWriter gathers writes into chunks and hands full chunks to a
// goroutine that writes them on, so producing the tar (disk reads,
// hashing) overlaps the content store's round trips. After a failed
// write, Write fails fast and Close returns the error.
type pipeWriter struct {
	w      io.Writer
	cur    []byte
	full   chan []byte
	free   chan []byte
	done   chan struct{}
	failed atomic.Bool
	err    error // written by run before done closes
}

func newPipeWriter(w io.Writer, chunk int) *pipeWriter {
	const buffers = 3 // one filling, one queued, one being written
	p := &pipeWriter{
		w:    w,
		full: make(chan []byte, 1),
		free: make(chan []byte, buffers),
		done: make(chan struct{}),
	}
	for range buffers - 1 {
		p.free <- make([]byte, 0, chunk)
	}
	p.cur = make([]byte, 0, chunk)
	go p.run()
	return p
}

func (p *pipeWriter) run() {
	defer close(p.done)
	for b := range p.full {
		if p.err == nil {
			if _, p.err = p.w.Write(b); p.err != nil {
				p.failed.Store(true)
			}
		}
		p.free <- b[:0]
	}
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if p.failed.Load() {
			return n, errors.New("content store write failed")
		}
		k := copy(p.cur[len(p.cur):cap(p.cur)], b)
		p.cur, b, n = p.cur[:len(p.cur)+k], b[k:], n+k
		if len(p.cur) == cap(p.cur) {
			p.full <- p.cur
			p.cur = <-p.free
		}
	}
	return n, nil
}

// Close writes what is left and waits for the goroutine. Call it once.
func (p *pipeWriter) Close() error {
	if len(p.cur) > 0 {
		p.full <- p.cur
	}
	close(p.full)
	<-p.done
	return p.err
}
