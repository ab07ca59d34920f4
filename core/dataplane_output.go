package core

import "sync"

// eventChunk bounds the data of one output event.
const eventChunk = 32 << 10

// output keeps the last max bytes of a process's stdout and stderr at
// their absolute offsets. The process writes without ever waiting for a
// reader; readers take what is buffered and wait on wake for more.
type output struct {
	mu    sync.Mutex
	max   int
	s     [2]streamBuf  // stdout, stderr
	wake  chan struct{} // closed (and replaced) on every change
	ended bool          // no more output will come
}

type streamBuf struct {
	start int64  // offset of data[0] in the stream
	data  []byte // never modified in place: readers get copies anyway
}

func newOutput(max int) *output {
	return &output{max: max, wake: make(chan struct{})}
}

// writer returns the io.Writer of a stream for the engine.
func (o *output) writer(s OutputStream) streamWriter {
	return streamWriter{o: o, i: int(s) - 1}
}

type streamWriter struct {
	o *output
	i int
}

// Write never fails and never blocks on readers.
func (w streamWriter) Write(b []byte) (int, error) {
	o := w.o
	o.mu.Lock()
	defer o.mu.Unlock()
	sb := &o.s[w.i]
	sb.data = append(sb.data, b...)
	if over := len(sb.data) - o.max; over > 0 {
		// Reslicing keeps the backing array; the next growing append
		// copies only what is kept, so memory stays about 2×max.
		sb.data = sb.data[over:]
		sb.start += int64(over)
	}
	close(o.wake)
	o.wake = make(chan struct{})
	return len(b), nil
}

// end marks the output complete and wakes readers.
func (o *output) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ended = true
	close(o.wake)
	o.wake = make(chan struct{})
}

// next returns the events for what is buffered past off (advancing off),
// the channel that is closed on the next change, and whether the output
// had ended when the events were taken (then they are all that is left).
func (o *output) next(off *[2]int64) ([]ProcessEvent, <-chan struct{}, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var evs []ProcessEvent
	for i := range o.s {
		sb := &o.s[i]
		off[i] = max(off[i], sb.start)
		if off[i] >= sb.start+int64(len(sb.data)) {
			continue // a reader ahead of the output waits for it
		}
		avail := sb.data[off[i]-sb.start:]
		n := min(len(avail), eventChunk)
		if n < len(avail) || !o.ended {
			n = completeUTF8(avail[:n])
		}
		if n == 0 {
			continue
		}
		evs = append(evs, ProcessEvent{
			Stream: OutputStream(i + 1),
			Data:   append([]byte(nil), avail[:n]...),
			Offset: off[i],
		})
		off[i] += int64(n)
	}
	return evs, o.wake, o.ended
}

// completeUTF8 returns how many leading bytes of b end on a character
// boundary: a trailing incomplete UTF-8 sequence (at most 3 bytes) is left
// out. Bytes that are not UTF-8 at all count as complete.
func completeUTF8(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		c := b[i]
		switch {
		case c < 0x80:
			return len(b)
		case c < 0xC0:
			continue // continuation byte: look for its lead
		}
		need := 4
		switch {
		case c < 0xE0:
			need = 2
		case c < 0xF0:
			need = 3
		case c >= 0xF8:
			return len(b) // not a lead byte
		}
		if len(b)-i < need {
			return i
		}
		return len(b)
	}
	return len(b)
}
