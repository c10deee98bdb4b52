package state_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/automation/state"
)

// TestPutRunKeepsBackSuccesses: the success time of a run that records
// nothing else is read back at once, but written to the file with the
// next run that records more, a minute after the last write of such
// times, or at Close; a run that records more is written at once.
func TestPutRunKeepsBackSuccesses(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		key    string
		rec    state.RunRecord
		read   map[string]time.Time // LastSuccess after the step
		stored map[string]time.Time // in the file after the step
	}
	push := &state.PushRecord{Commit: "abc", Branch: "main", At: at(0)}
	tests := map[string][]step{
		"runs at rest within a minute, then a minute after the first": {
			{key: "a", rec: state.RunRecord{Success: at(0)}, read: map[string]time.Time{"a": at(0)}, stored: map[string]time.Time{"a": at(0)}},
			{key: "a", rec: state.RunRecord{Success: at(10 * time.Second)}, read: map[string]time.Time{"a": at(10 * time.Second)}, stored: map[string]time.Time{"a": at(0)}},
			{key: "b", rec: state.RunRecord{Success: at(20 * time.Second)}, read: map[string]time.Time{"b": at(20 * time.Second)}, stored: map[string]time.Time{"a": at(0)}},
			{key: "a", rec: state.RunRecord{Success: at(time.Minute)}, read: map[string]time.Time{"a": at(time.Minute), "b": at(20 * time.Second)},
				stored: map[string]time.Time{"a": at(time.Minute), "b": at(20 * time.Second)}},
		},
		"a run that pushed writes the times kept back with its own": {
			{key: "a", rec: state.RunRecord{Success: at(0)}, stored: map[string]time.Time{"a": at(0)}},
			{key: "b", rec: state.RunRecord{Success: at(5 * time.Second)}, stored: map[string]time.Time{"a": at(0)}},
			{key: "a", rec: state.RunRecord{Success: at(6 * time.Second)}, stored: map[string]time.Time{"a": at(0)}},
			{key: "a", rec: state.RunRecord{Push: push, Success: at(7 * time.Second)}, read: map[string]time.Time{"a": at(7 * time.Second), "b": at(5 * time.Second)},
				stored: map[string]time.Time{"a": at(7 * time.Second), "b": at(5 * time.Second)}},
		},
		"kept back until Close": {
			{key: "a", rec: state.RunRecord{Success: at(0)}},
			{key: "a", rec: state.RunRecord{Success: at(10 * time.Second)}, stored: map[string]time.Time{"a": at(0)}},
		},
		"a failed run keeps the last success": {
			{key: "a", rec: state.RunRecord{Success: at(0)}},
			{key: "a", rec: state.RunRecord{Success: at(5 * time.Second)}, stored: map[string]time.Time{"a": at(0)}},
			{key: "a", rec: state.RunRecord{Push: push}, read: map[string]time.Time{"a": at(5 * time.Second)}, stored: map[string]time.Time{"a": at(5 * time.Second)}},
		},
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), state.File)
			st, err := state.Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			last := map[string]time.Time{}
			for i, s := range steps {
				if err := st.PutRun(s.key, s.rec); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if !s.rec.Success.IsZero() {
					last[s.key] = s.rec.Success
				}
				for k, want := range s.read {
					if got, ok, err := st.LastSuccess(k); err != nil || !ok || !got.Equal(want) {
						t.Errorf("step %d: LastSuccess(%q) = %v, %v, %v; want %v", i, k, got, ok, err, want)
					}
				}
				for k, want := range s.stored {
					if got, ok, err := state.StoredSuccess(st, k); err != nil || !ok || !got.Equal(want) {
						t.Errorf("step %d: in the file, %q succeeded at %v (%v, %v); want %v", i, k, got, ok, err, want)
					}
				}
			}
			// Close writes what was kept back.
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st, err = state.Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = st.Close() }()
			got := map[string]time.Time{}
			for k := range last {
				if tm, ok, err := st.LastSuccess(k); err == nil && ok {
					got[k] = tm
				}
			}
			if diff := cmp.Diff(last, got); diff != "" {
				t.Errorf("after Close and Open (-want +got):\n%s", diff)
			}
		})
	}
}
