package envd

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The proto3 JSON mapping, for the few types encoding/json does not do the
// proto way. Requests: integers may come as numbers or strings, bytes as
// standard or URL-safe base64 with or without padding, enums as names or
// numbers, null means the default. Responses: int64 as strings, bytes as
// standard base64, enums as names, defaults omitted, timestamps RFC 3339
// with 0, 3, 6 or 9 fractional digits.

// fieldError is a request field of the wrong shape.
type fieldError struct {
	what, value string
}

func (e *fieldError) Error() string { return fmt.Sprintf("%s: %s", e.what, e.value) }

// u32 is a uint32 request field.
type u32 uint32

func (v *u32) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" {
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return &fieldError{"not an unsigned 32-bit integer", truncate(s)}
	}
	*v = u32(n)
	return nil
}

// b64 is a bytes request field.
type b64 []byte

func (v *b64) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &fieldError{"bytes must be a base64 string", truncate(string(b))}
	}
	s = strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	d, err := enc.DecodeString(s)
	if err != nil {
		return &fieldError{"bytes are not valid base64", truncate(s)}
	}
	*v = d
	return nil
}

// i64 is an int64 response field: proto3 JSON writes it as a string.
type i64 int64

func (v i64) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(v), 10) + `"`), nil
}

// enumValue reads an enum request field given by name or number.
func enumValue(b []byte, names map[string]int32) (int32, error) {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		if n, ok := names[name]; ok {
			return n, nil
		}
		return 0, &fieldError{"unknown enum value", truncate(name)}
	}
	var n int32
	if err := json.Unmarshal(b, &n); err != nil {
		return 0, &fieldError{"an enum must be a name or a number", truncate(string(b))}
	}
	return n, nil
}

// timestamp formats t as a google.protobuf.Timestamp in its canonical
// proto3 JSON form (0, 3, 6 or 9 fractional digits, as protojson writes
// it); "" for the zero time.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	switch ns := t.Nanosecond(); {
	case ns == 0:
		return t.Format("2006-01-02T15:04:05Z")
	case ns%1e6 == 0:
		return t.Format("2006-01-02T15:04:05.000Z")
	case ns%1e3 == 0:
		return t.Format("2006-01-02T15:04:05.000000Z")
	default:
		return t.Format("2006-01-02T15:04:05.000000000Z")
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// str returns *p or "".
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
