package langsmith

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/core"
)

// The SDKs resume at offset + UTF-8 length of data: frames must never split
// a character, and each frame's offset must be the byte offset of its data.
func TestUTF8StreamFrames(t *testing.T) {
	euro := "€" // 3 bytes: e2 82 ac
	cases := []struct {
		name   string
		events []core.ProcessEvent
		want   []wsOutput
	}{
		{
			name:   "ascii",
			events: []core.ProcessEvent{{Stream: core.Stdout, Data: []byte("hi\n"), Offset: 0}},
			want:   []wsOutput{{"stdout", "hi\n", 0}},
		},
		{
			name: "character split across events waits for its end",
			events: []core.ProcessEvent{
				{Stream: core.Stdout, Data: []byte("a" + euro[:1]), Offset: 0},
				{Stream: core.Stdout, Data: []byte(euro[1:] + "b"), Offset: 2},
			},
			want: []wsOutput{{"stdout", "a", 0}, {"stdout", euro + "b", 1}},
		},
		{
			name: "split twice",
			events: []core.ProcessEvent{
				{Stream: core.Stdout, Data: []byte(euro[:1]), Offset: 10},
				{Stream: core.Stdout, Data: []byte(euro[1:2]), Offset: 11},
				{Stream: core.Stdout, Data: []byte(euro[2:]), Offset: 12},
			},
			want: []wsOutput{{"stdout", euro, 10}},
		},
		{
			name:   "invalid byte becomes U+FFFD and ends its frame",
			events: []core.ProcessEvent{{Stream: core.Stdout, Data: []byte("ab\xffcd"), Offset: 5}},
			want:   []wsOutput{{"stdout", "ab\uFFFD", 5}, {"stdout", "cd", 8}},
		},
		{
			name: "a gap drops the pending bytes",
			events: []core.ProcessEvent{
				{Stream: core.Stdout, Data: []byte("x" + euro[:2]), Offset: 0},
				{Stream: core.Stdout, Data: []byte("yz"), Offset: 100},
			},
			want: []wsOutput{{"stdout", "x", 0}, {"stdout", "yz", 100}},
		},
		{
			name:   "an unfinished character at the end is flushed as U+FFFD",
			events: []core.ProcessEvent{{Stream: core.Stdout, Data: []byte("ok" + euro[:2]), Offset: 0}},
			want:   []wsOutput{{"stdout", "ok", 0}, {"stdout", "\uFFFD", 2}, {"stdout", "\uFFFD", 3}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &utf8Stream{name: "stdout"}
			var got []wsOutput
			for _, ev := range tc.events {
				got = append(got, s.frames(ev)...)
			}
			got = append(got, s.flush()...)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("frames (-want +got):\n%s", diff)
			}
		})
	}
}

// Resuming from any frame's end offset yields exactly the rest of the
// stream, however the output was chunked.
func TestUTF8StreamOffsetsResume(t *testing.T) {
	text := strings.Repeat("aé€😀", 50)
	for size := 1; size <= 7; size++ {
		s := &utf8Stream{name: "stdout"}
		var frames []wsOutput
		for off := 0; off < len(text); off += size {
			end := min(off+size, len(text))
			frames = append(frames, s.frames(core.ProcessEvent{Stream: core.Stdout, Data: []byte(text[off:end]), Offset: int64(off)})...)
		}
		frames = append(frames, s.flush()...)
		var joined strings.Builder
		for i, f := range frames {
			if !utf8.ValidString(f.Data) {
				t.Fatalf("size %d: frame %d is not valid UTF-8", size, i)
			}
			if int(f.Offset) != joined.Len() {
				t.Fatalf("size %d: frame %d offset = %d, want %d", size, i, f.Offset, joined.Len())
			}
			joined.WriteString(f.Data)
		}
		if joined.String() != text {
			t.Fatalf("size %d: joined frames differ from the output", size)
		}
	}
}
