package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/snapgate/snapgate/core"
)

// loadQuotas reads the per-tenant quotas, the same for every tenant. An
// unset variable takes its value from def (a share of the node:
// defaultQuotas); 0 makes that quota unlimited, only when set so.
func loadQuotas(getenv func(string) string, def core.Quotas) (core.Quotas, error) {
	var errs []error
	num := func(k string, def int64) int64 {
		v := strings.TrimSpace(getenv(k))
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s must be 0 (unlimited) or a positive integer", k))
			return 0
		}
		return n
	}
	q := core.Quotas{
		Sandboxes:    int(min(num("SNAPGATE_QUOTA_SANDBOXES", int64(def.Sandboxes)), 1<<31-1)),
		Snapshots:    int(min(num("SNAPGATE_QUOTA_SNAPSHOTS", int64(def.Snapshots)), 1<<31-1)),
		StorageBytes: num("SNAPGATE_QUOTA_STORAGE_BYTES", def.StorageBytes),
	}
	return q, errors.Join(errs...)
}

// quotaDefaultsNeeded reports whether any quota is left to its default,
// so the data dir's free space must be read.
func quotaDefaultsNeeded(getenv func(string) string) bool {
	for _, k := range []string{"SNAPGATE_QUOTA_SANDBOXES", "SNAPGATE_QUOTA_SNAPSHOTS", "SNAPGATE_QUOTA_STORAGE_BYTES"} {
		if strings.TrimSpace(getenv(k)) == "" {
			return true
		}
	}
	return false
}
