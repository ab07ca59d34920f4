package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/snapgate/snapgate/core"
)

func TestIdleTTLPausesAndIsRearmedOnResume(t *testing.T) {
	e := newBoxEnv(t)
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py", IdleTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if sb.IdleTTL != time.Hour || sb.OnTimeout != core.TimeoutPause || time.Until(sb.Deadline) < 59*time.Minute {
		t.Fatalf("created with idle TTL: ttl %v, action %s, deadline in %v", sb.IdleTTL, sb.OnTimeout, time.Until(sb.Deadline))
	}
	if err := e.boxes.Pause(e.ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.boxes.Get(e.ctx, sb.ID); !got.Deadline.IsZero() {
		t.Errorf("paused without delete-after-stop: deadline %v, want none", got.Deadline)
	}
	got, _, err := e.boxes.Resume(e.ctx, sb.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(got.Deadline); d < 59*time.Minute || d > time.Hour {
		t.Errorf("resumed: deadline in %v, want the idle TTL re-armed", d)
	}
	// An update re-arms a running sandbox; the reaper then pauses it.
	short := time.Second
	if _, err := e.boxes.Update(e.ctx, sb.ID, core.SandboxUpdate{IdleTTL: &short}); err != nil {
		t.Fatal(err)
	}
	waitState(t, e, sb.ID, core.SandboxPaused)
}

func TestDeleteAfterStopKillsAPausedSandbox(t *testing.T) {
	e := newBoxEnv(t)
	sb, err := e.boxes.Create(e.ctx, core.CreateSandboxRequest{SnapshotRef: "py", DeleteAfterStop: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !sb.Deadline.IsZero() {
		t.Errorf("running with only delete-after-stop: deadline %v, want none", sb.Deadline)
	}
	if err := e.boxes.Pause(e.ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.boxes.Get(e.ctx, sb.ID); time.Until(got.Deadline) < 59*time.Minute {
		t.Errorf("paused: deadline in %v, want the delete-after-stop time", time.Until(got.Deadline))
	}
	// Resumed, the delete-after-stop deadline no longer applies.
	got, _, err := e.boxes.Resume(e.ctx, sb.ID, 0)
	if err != nil || !got.Deadline.IsZero() {
		t.Fatalf("resumed: deadline %v, err %v; want none", got.Deadline, err)
	}
	if err := e.boxes.Pause(e.ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	short := time.Second
	if _, err := e.boxes.Update(e.ctx, sb.ID, core.SandboxUpdate{DeleteAfterStop: &short}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := e.boxes.Get(e.ctx, sb.ID); errors.Is(err, core.ErrNotFound) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Error("a paused sandbox outlived its delete-after-stop time by 5s")
}

func waitState(t *testing.T, e *boxEnv, id string, want core.SandboxState) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if got, err := e.boxes.Get(e.ctx, id); err == nil && got.State == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("sandbox %s not %s within 5s", id, want)
}

func TestSnapshotKeepsTagDescriptionAndLabels(t *testing.T) {
	e := newEnv(t, "node-1")
	labels := map[string]string{"team": "ml"}
	s, err := e.svc.Create(e.ctx, core.CreateSnapshotRequest{
		Name: "tagged", DockerImage: image, FSCapacityBytes: 1 << 30, Tag: "v1", Description: "base image", Labels: labels,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Get(e.ctx, "tagged:v1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{s.ID, "v1", "base image", labels}, []any{got.ID, got.Tag, got.Description, got.Labels}); diff != "" {
		t.Errorf("stored snapshot (-want +got):\n%s", diff)
	}
	if _, err := e.svc.Get(e.ctx, "tagged:v2"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("get by another tag: %v, want ErrNotFound", err)
	}
	for name, req := range map[string]core.CreateSnapshotRequest{
		"bad tag":   {Tag: ".hidden"},
		"bad label": {Labels: map[string]string{"": "v"}},
	} {
		req.Name, req.DockerImage, req.FSCapacityBytes = "other", image, 1<<30
		if _, err := e.svc.Create(e.ctx, req); !errors.Is(err, core.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
}
