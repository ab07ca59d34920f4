package langsmith

import (
	"strings"
	"unicode/utf8"

	"github.com/snapgate/snapgate/core"
)

// Frames of the WebSocket exec protocol (contract §4.3). All are JSON text.

// wsClientFrame is any frame a client sends: execute (the command plus
// stream options), input, kill, close_stdin, or reconnect as the first
// frame of a new socket.
type wsClientFrame struct {
	Type string `json:"type"`
	commandJSON
	TimeoutSeconds   *float64 `json:"timeout_seconds"`
	KillOnDisconnect bool     `json:"kill_on_disconnect"`
	CommandID        string   `json:"command_id"`
	PTY              bool     `json:"pty"`
	CloseStdin       bool     `json:"close_stdin"`
	Data             string   `json:"data"`
	StdoutOffset     int64    `json:"stdout_offset"`
	StderrOffset     int64    `json:"stderr_offset"`
	// idle_timeout_seconds and ttl_seconds are accepted and not applied:
	// a command runs until it exits or its timeout, and stays
	// re-attachable for core's FinishedTTL (10 min, the SDKs' default ttl).
}

type wsStarted struct {
	Type      string `json:"type"` // "started"
	CommandID string `json:"command_id"`
	PID       uint32 `json:"pid"`
}

type wsOutput struct {
	Type   string `json:"type"` // "stdout" or "stderr"
	Data   string `json:"data"`
	Offset int64  `json:"offset"`
}

type wsExit struct {
	Type     string `json:"type"` // "exit"
	ExitCode int    `json:"exit_code"`
}

type wsError struct {
	Type      string `json:"type"` // "error"
	ErrorType string `json:"error_type"`
	Error     string `json:"error"`
}

// utf8Stream cuts one output stream into frames whose data is valid UTF-8
// and whose offset is the exact byte offset of their first byte: the SDKs
// resume at offset + UTF-8 length of data, so a character is never split
// across frames (its first bytes wait for the rest) and an invalid byte
// becomes U+FFFD ending its frame, so the next frame's offset is exact
// again.
type utf8Stream struct {
	name     string // "stdout" or "stderr"
	carry    []byte // an incomplete character at the end of the last event
	carryOff int64
}

// frames returns the frames of one output event.
func (s *utf8Stream) frames(ev core.ProcessEvent) []wsOutput {
	buf, off := ev.Data, ev.Offset
	if len(s.carry) > 0 && s.carryOff+int64(len(s.carry)) == off {
		buf, off = append(s.carry, buf...), s.carryOff
	}
	s.carry = nil
	if cut := incompleteTail(buf); cut < len(buf) {
		s.carry, s.carryOff = append([]byte(nil), buf[cut:]...), off+int64(cut)
		buf = buf[:cut]
	}
	return s.split(buf, off)
}

// flush returns what is left once the stream ended.
func (s *utf8Stream) flush() []wsOutput {
	buf, off := s.carry, s.carryOff
	s.carry = nil
	return s.split(buf, off)
}

func (s *utf8Stream) split(buf []byte, off int64) []wsOutput {
	if len(buf) == 0 {
		return nil
	}
	if utf8.Valid(buf) {
		return []wsOutput{{Type: s.name, Data: string(buf), Offset: off}}
	}
	var out []wsOutput
	var sb strings.Builder
	start := 0
	for i := 0; i < len(buf); {
		r, size := utf8.DecodeRune(buf[i:])
		if r == utf8.RuneError && size == 1 {
			sb.WriteRune(utf8.RuneError)
			out = append(out, wsOutput{Type: s.name, Data: sb.String(), Offset: off + int64(start)})
			sb.Reset()
			i++
			start = i
			continue
		}
		sb.Write(buf[i : i+size])
		i += size
	}
	if sb.Len() > 0 {
		out = append(out, wsOutput{Type: s.name, Data: sb.String(), Offset: off + int64(start)})
	}
	return out
}

// incompleteTail returns where a character that is cut at the end of b
// starts, or len(b) when b ends on a character boundary.
func incompleteTail(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			return len(b)
		}
	}
	return len(b)
}
