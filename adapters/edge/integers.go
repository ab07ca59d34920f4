package edge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// integerProblems names every integer field of r's JSON body that does not
// fit the Go integer it is decoded into: 64 bits, or 32 for format int32.
// kin-openapi checks integers as float64, which cannot tell 2^63 (or 2^64)
// from an integer that fits, and a field the handler ignores is never
// decoded at all; left alone, such a value is a decode error named after
// a Go struct, a silent wrap-around, or accepted and dropped.
func integerProblems(r *http.Request, op *openapi3.Operation) ([]string, error) {
	if op == nil || op.RequestBody == nil || op.RequestBody.Value == nil || r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	media := op.RequestBody.Value.Content.Get(ct)
	if media == nil || media.Schema == nil || ct != "application/json" {
		return nil, nil
	}
	raw, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(raw)) // the handler reads it again
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, nil // not JSON: kin-openapi reports it
	}
	var out []string
	walkIntegers(media.Schema.Value, v, "", &out)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// walkIntegers checks v against schema s, appending a message per integer
// out of range; field is v's dotted path ("" for the body itself).
func walkIntegers(s *openapi3.Schema, v any, field string, out *[]string) {
	if s == nil {
		return
	}
	for _, sub := range slices.Concat(s.AllOf, s.AnyOf, s.OneOf) {
		walkIntegers(sub.Value, v, field, out)
	}
	switch val := v.(type) {
	case json.Number:
		if s.Type.Is("integer") && !fitsInteger(string(val), s.Format) {
			bits := "64"
			if s.Format == "int32" {
				bits = "32"
			}
			*out = append(*out, fmt.Sprintf("request body field %q: integer out of range (must fit in a signed %s-bit integer)", field, bits))
		}
	case map[string]any:
		for k, sub := range val {
			name := strings.TrimPrefix(field+"."+k, ".")
			if p := s.Properties[k]; p != nil {
				walkIntegers(p.Value, sub, name, out)
			} else if ap := s.AdditionalProperties.Schema; ap != nil {
				walkIntegers(ap.Value, sub, name, out)
			}
		}
	case []any:
		if s.Items == nil {
			return
		}
		for i, sub := range val {
			walkIntegers(s.Items.Value, sub, field+"["+strconv.Itoa(i)+"]", out)
		}
	}
}

// fitsInteger reports whether the JSON number n, if it is an integer
// (1e3 and 60.0 are), fits a signed integer of format's size. Fractions
// are left to kin-openapi's "must be an integer".
func fitsInteger(n, format string) bool {
	bits := 64
	if format == "int32" {
		bits = 32
	}
	if _, err := strconv.ParseInt(n, 10, bits); err == nil {
		return true
	}
	f, ok := new(big.Float).SetPrec(0).SetString(n)
	if !ok || f.IsInf() {
		return false
	}
	if !f.IsInt() {
		return true
	}
	i, _ := f.Int(nil)
	limit := new(big.Int).Lsh(big.NewInt(1), uint(bits-1)) // 2^(bits-1)
	return i.Cmp(new(big.Int).Neg(limit)) >= 0 && i.Cmp(limit) < 0
}
