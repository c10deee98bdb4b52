package controller

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/writeback"
)

// TestKeptChanges: a run's kept changes as status.keptChanges and the
// ChangesKept event's note show them.
func TestKeptChanges(t *testing.T) {
	kept := []automation.Kept{
		{Change: writeback.Change{File: "a.yaml", Old: "r/x:1.5.0", New: "r/x:1.4.0", Policy: "apps:x"}, Reason: automation.KeptDowngrade},
		{Change: writeback.Change{File: "b.yaml", Old: "r/y:1.0.0", New: "r/y:1.1.0", Policy: "apps:y"}, Reason: automation.KeptHold},
	}
	got := keptChanges(kept)
	want := []v1alpha1.KeptChange{
		{File: "a.yaml", Old: "r/x:1.5.0", New: "r/x:1.4.0", Policy: "apps:x", Reason: "downgrade"},
		{File: "b.yaml", Old: "r/y:1.0.0", New: "r/y:1.1.0", Policy: "apps:y", Reason: "hold"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keptChanges (-want +got):\n%s", diff)
	}
	if note, want := keptNote(got), "a.yaml: kept r/x:1.5.0, not r/x:1.4.0 (downgrade); b.yaml: kept r/y:1.0.0, not r/y:1.1.0 (hold)"; note != want {
		t.Errorf("note %q, want %q", note, want)
	}
	if keptChanges(nil) != nil {
		t.Errorf("no kept change is not nil")
	}
}
