package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/core"
)

func TestLoadConfigQuotas(t *testing.T) {
	c, err := LoadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Quotas != (core.Quotas{}) {
		t.Errorf("default quotas %+v, want none (unlimited)", c.Quotas)
	}
	c, err = LoadConfig(env(map[string]string{
		"SNAPGATE_QUOTA_SANDBOXES": "5", "SNAPGATE_QUOTA_SNAPSHOTS": "20", "SNAPGATE_QUOTA_STORAGE_BYTES": "10737418240",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(core.Quotas{Sandboxes: 5, Snapshots: 20, StorageBytes: 10 << 30}, c.Quotas); d != "" {
		t.Errorf("quotas (-want +got):\n%s", d)
	}
	_, err = LoadConfig(env(map[string]string{
		"SNAPGATE_QUOTA_SANDBOXES": "-1", "SNAPGATE_QUOTA_SNAPSHOTS": "many", "SNAPGATE_QUOTA_STORAGE_BYTES": "10GiB",
	}))
	for _, want := range []string{"SNAPGATE_QUOTA_SANDBOXES", "SNAPGATE_QUOTA_SNAPSHOTS", "SNAPGATE_QUOTA_STORAGE_BYTES"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
