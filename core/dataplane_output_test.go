package core

import (
	"strings"
	"testing"
)

func TestCompleteUTF8(t *testing.T) {
	euro := "€" // e2 82 ac
	cases := []struct {
		name string
		in   string
		want int
	}{
		{"empty", "", 0},
		{"ascii", "abc", 3},
		{"whole char", "a" + euro, 4},
		{"one byte of three", "a" + euro[:1], 1},
		{"two bytes of three", "a" + euro[:2], 1},
		{"two bytes of four", "a" + "😀"[:2], 1},
		{"complete four", "😀", 4},
		{"stray continuation bytes", "a\x80\x80\x80\x80", 5},
		{"invalid lead byte", "a\xff", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := completeUTF8([]byte(tc.in)); got != tc.want {
				t.Errorf("completeUTF8(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestOutputHoldsBackSplitCharacters(t *testing.T) {
	o := newOutput(1 << 20)
	w := o.writer(Stdout)
	w.Write([]byte("a€"[:3]))
	var off [2]int64
	evs, _, _ := o.next(&off)
	if len(evs) != 1 || string(evs[0].Data) != "a" || off[0] != 1 {
		t.Fatalf("first read %+v (offset %d), want only \"a\"", evs, off[0])
	}
	if evs, _, _ = o.next(&off); len(evs) != 0 {
		t.Errorf("the incomplete character was sent: %+v", evs)
	}
	w.Write([]byte("€"[2:]))
	if evs, _, _ = o.next(&off); len(evs) != 1 || string(evs[0].Data) != "€" || evs[0].Offset != 1 {
		t.Errorf("after the rest: %+v", evs)
	}
	// At the end nothing is held back, and large output comes in chunks.
	w.Write([]byte(strings.Repeat("x", eventChunk+10) + "\xe2"))
	o.end()
	var got int
	for {
		evs, _, ended := o.next(&off)
		if len(evs) == 0 && ended {
			break
		}
		for _, ev := range evs {
			if len(ev.Data) > eventChunk {
				t.Errorf("event of %d bytes", len(ev.Data))
			}
			got += len(ev.Data)
		}
	}
	if got != eventChunk+11 {
		t.Errorf("read %d bytes after the end, want %d", got, eventChunk+11)
	}
}

func TestOutputDropsOldestBytes(t *testing.T) {
	o := newOutput(10)
	w := o.writer(Stderr)
	for range 5 {
		w.Write([]byte("0123456789"))
	}
	off := [2]int64{0, 3}
	evs, _, _ := o.next(&off)
	if len(evs) != 1 || evs[0].Stream != Stderr || evs[0].Offset != 40 || string(evs[0].Data) != "0123456789" || off[1] != 50 {
		t.Errorf("read %+v, offsets %v; want the last 10 bytes from 40", evs, off)
	}
	if c := cap(o.s[1].data); c > 64 {
		t.Errorf("buffer of 10 bytes holds an array of %d", c)
	}
}
