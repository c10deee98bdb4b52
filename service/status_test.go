package service

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/automation/state"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/writeback"
)

// TestStatus reports each policy and automation of the running
// configuration with what the state store remembers and the last errors.
func TestStatus(t *testing.T) {
	set, err := config.Parse("hoist.yaml", []byte(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: apps}
spec: {image: ghcr.io/org/app}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: '^1'}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: broken, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: '^9'}}
  hold: true
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: apps}
spec:
  suspend: true
  git:
    url: https://git.example.com/fleet.git
    checkout: {ref: {branch: main}}
    commit: {author: {email: hoist@example.com}}
`))
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(filepath.Join(t.TempDir(), state.File), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Close() }()
	at := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	if err := store.PutSelection("apps:app", state.SelectionRecord{Ref: "ghcr.io/org/app:1.2.0", At: at}); err != nil {
		t.Fatal(err)
	}
	if err := store.PutLastPush("apps/fleet", state.PushRecord{Commit: "abc", Branch: "main", At: at}); err != nil {
		t.Fatal(err)
	}
	s := &Service{o: ServiceOptions{Runner: &automation.Runner{State: store}}, known: map[string]knownSelection{}, errs: map[string]string{}, scanned: map[string]time.Time{"apps/app": at}}
	s.cur.Store(indexSet(set))
	s.noteError("policy apps:broken", errors.New("no tag matches"))
	s.noteError("policy apps:app", errors.New("an old error"))
	s.noteError("policy apps:app", nil) // the next scan succeeded
	s.noteWarning("apps:app", "registry failed transiently, using the tag list cached at 2026-11-26T06:00:00Z: 503")
	s.noteWarning("apps:broken", "an old warning")
	s.noteWarning("apps:broken", "") // the next scan had a fresh list
	s.noteError("automation apps/fleet", runError(automation.RunResult{Errors: []*writeback.FileError{{File: "a.yaml", Line: 3, Err: errors.New("refused")}}}))
	kept := []automation.Kept{{Change: writeback.Change{File: "b.yaml", Line: 4, Old: "ghcr.io/org/app:1.0.0", New: "ghcr.io/org/app:1.2.0", Policy: "apps:app"}, Reason: automation.KeptHold}}
	s.noteKept("apps/other", []automation.Kept{{Reason: automation.KeptDowngrade}})
	s.noteKept("apps/other", nil) // the next run kept nothing back
	s.noteKept("apps/fleet", kept)

	want := Status{
		Policies: []PolicyStatus{
			{Namespace: "apps", Name: "app", Image: "ghcr.io/org/app", Ref: "ghcr.io/org/app:1.2.0", SelectedAt: &at, ScannedAt: &at,
				Warning: "registry failed transiently, using the tag list cached at 2026-11-26T06:00:00Z: 503"},
			{Namespace: "apps", Name: "broken", Image: "ghcr.io/org/app", ScannedAt: &at, Held: true, Error: "no tag matches"},
		},
		Automations: []AutomationStatus{
			{Namespace: "apps", Name: "fleet", Suspended: true, LastPush: &state.PushRecord{Commit: "abc", Branch: "main", At: at}, Error: "a.yaml:3: refused", Kept: kept},
		},
	}
	got := s.Status()
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("Status (-want +got):\n%s", diff)
	}

	rec := httptest.NewRecorder()
	s.serveStatus(rec, httptest.NewRequest(http.MethodGet, "/status", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("GET /status: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	rec = httptest.NewRecorder()
	s.serveStatus(rec, httptest.NewRequest(http.MethodPost, "/status", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /status: %d", rec.Code)
	}
}
