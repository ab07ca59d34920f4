package store

import (
	"encoding/json"
	"time"
)

// seconds is d in whole seconds, as the idle_ttl_seconds and
// delete_after_stop_seconds columns hold it.
func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// labelsText is a snapshot's labels as a JSON object; nil is {}. Core has
// validated them (ValidateMetadata), and a map of strings always encodes.
func labelsText(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// labelsFrom reads labelsText's output: no labels is nil, as written.
// Text that does not decode reads as no labels rather than failing every
// read of the snapshot.
func labelsFrom(text string) map[string]string {
	m, err := decodeMap(text)
	if err != nil || len(m) == 0 {
		return nil
	}
	return m
}
