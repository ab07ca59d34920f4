package main

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/snapgate/snapgate/core"
)

// loadQuotas reads the per-tenant quotas, the same for every tenant; an
// unset or 0 variable leaves that quota unlimited.
func loadQuotas(get func(k, def string) string) (core.Quotas, error) {
	var q core.Quotas
	var errs []error
	num := func(k string) int64 {
		n, err := strconv.ParseInt(get(k, "0"), 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s must be 0 (unlimited) or a positive integer", k))
			return 0
		}
		return n
	}
	q.Sandboxes = int(min(num("SNAPGATE_QUOTA_SANDBOXES"), 1<<31-1))
	q.Snapshots = int(min(num("SNAPGATE_QUOTA_SNAPSHOTS"), 1<<31-1))
	q.StorageBytes = num("SNAPGATE_QUOTA_STORAGE_BYTES")
	return q, errors.Join(errs...)
}
