package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"time"
)

// scanLog calls fn with every JSON line of path from byte offset from up to
// (not including) byte offset to; to < 0 means the end of the file.
func scanLog(path string, from, to int64, fn func(line []byte)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return err
	}
	var r io.Reader = f
	if to >= 0 {
		r = io.LimitReader(f, to-from)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		fn(sc.Bytes())
	}
	return sc.Err()
}

type events struct{ queued, finished time.Time }

// buildEvents finds when the server logged that snapshot id was queued and
// that its build finished.
func buildEvents(path string, from int64, id string) (events, error) {
	var ev events
	err := scanLog(path, from, -1, func(b []byte) {
		var l struct {
			Time       time.Time `json:"time"`
			Msg        string    `json:"msg"`
			SnapshotID string    `json:"snapshot_id"`
		}
		if json.Unmarshal(b, &l) != nil || l.SnapshotID != id {
			return
		}
		switch l.Msg {
		case "snapshot build queued":
			ev.queued = l.Time
		case "snapshot build finished":
			ev.finished = l.Time
		}
	})
	return ev, err
}

// serverDurations returns the handler time the access log recorded for each
// GET of route answered 200 between the two offsets.
func serverDurations(path string, from, to int64, route string) ([]time.Duration, error) {
	var out []time.Duration
	err := scanLog(path, from, to, func(b []byte) {
		var l struct {
			Msg      string `json:"msg"`
			Method   string `json:"method"`
			Route    string `json:"route"`
			Status   int    `json:"status"`
			Duration int64  `json:"duration"` // slog's JSON handler writes nanoseconds
		}
		if json.Unmarshal(b, &l) != nil || l.Msg != "request" || l.Method != "GET" || l.Route != route || l.Status != 200 {
			return
		}
		out = append(out, time.Duration(l.Duration))
	})
	return out, err
}
