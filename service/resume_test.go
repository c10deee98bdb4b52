package service

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/automation/state"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// observed records what a service's Observer sees.
type observed struct {
	mu      sync.Mutex
	scanned []automation.Selection
	ran     []automation.RunResult
}

func (o *observed) Scanned(_ string, sels []automation.Selection) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.scanned = append(o.scanned, sels...)
}

func (o *observed) Ran(res automation.RunResult) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ran = append(o.ran, res)
}

// TestServiceResumesFromState restarts a service on its state directory:
// with the policy's documents unchanged, the automation's first run writes
// the stored selection without asking the registry anything, and the first
// scan answers from it without selecting (its counts are the stored ones,
// which the test sets apart from the real ones); a policy whose spec
// changed while the service was down, and a record of an older hoist
// (without a fingerprint), are scanned and selected again, and the record
// is brought up to date.
func TestServiceResumesFromState(t *testing.T) {
	const semver, semverChanged = ">=1", ">=1.0.0"
	tests := map[string]struct {
		restartRange string // the policy's range after the restart
		oldRecord    bool   // the stored record is rewritten as an older hoist wrote it
		wantResumed  bool
	}{
		"unchanged":                    {restartRange: semver, wantResumed: true},
		"policy changed while down":    {restartRange: semverChanged},
		"state file of an older hoist": {restartRange: semver, oldRecord: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
			reg.PushImage(t, "apps/app", "1.0.0", testenv.ImageOptions{})
			reg.PushImage(t, "apps/app", "1.1.0", testenv.ImageOptions{})
			gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{})
			bare := gitSrv.RepoDir("fleet.git")
			testenv.GitInitBare(t, bare, "main")
			testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
				"app.yaml": fmt.Sprintf("image: %s # {\"$imagepolicy\": \"apps:app\"}\n", reg.Ref("apps/app", "1.0.0")),
			})
			configPath := filepath.Join(t.TempDir(), "hoist.yaml")
			writeConfig := func(rng string) {
				t.Helper()
				doc := fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: apps}
spec: {image: %s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: %q}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: apps}
spec:
  git:
    url: %s
    checkout: {ref: {branch: main}}
    commit: {author: {email: hoist@example.com}}
`, reg.Ref("apps/app", ""), rng, gitSrv.RepoURL("fleet.git"))
				if err := os.WriteFile(configPath, []byte(doc), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			stateDir := t.TempDir()
			// start is one life of the service: a new process's registry
			// client and scanner, on the state directory.
			start := func() (*Service, *state.Store, *observed) {
				t.Helper()
				st, err := state.Open(state.Path(stateDir), nil)
				if err != nil {
					t.Fatal(err)
				}
				client, err := registry.New(registry.WithRateLimit(0, 0))
				if err != nil {
					t.Fatal(err)
				}
				obs := &observed{}
				svc, err := NewService(ServiceOptions{
					Runner:      &automation.Runner{Scanner: &automation.Scanner{Registry: client}, StateDir: stateDir, State: st},
					ConfigPaths: []string{configPath}, Registry: prometheus.NewRegistry(), Observer: obs,
				})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.Load(); err != nil {
					t.Fatal(err)
				}
				return svc, st, obs
			}
			run := func(svc *Service, obs *observed) automation.RunResult {
				t.Helper()
				if err := svc.flush(t.Context(), svc.gitKey("apps/fleet"), []string{"apps/fleet"}); err != nil {
					t.Fatal(err)
				}
				res := obs.ran[len(obs.ran)-1]
				if res.Failed() {
					t.Fatalf("run: %v %v", res.Err, res.Errors)
				}
				return res
			}
			scan := func(svc *Service, obs *observed) automation.Selection {
				t.Helper()
				if err := svc.scanRepository(t.Context(), "apps/app"); err != nil {
					t.Fatal(err)
				}
				sel := obs.scanned[len(obs.scanned)-1]
				if sel.Tag != "1.1.0" {
					t.Fatalf("scan selected %q, want 1.1.0", sel.Tag)
				}
				return sel
			}

			// The first life scans, and the run writes the selection.
			writeConfig(semver)
			svc, st, obs := start()
			scan(svc, obs)
			if res := run(svc, obs); !res.Pushed {
				t.Fatalf("first run pushed nothing")
			}
			rec, ok, err := st.Selection("apps:app")
			if err != nil || !ok || rec.Fingerprint == "" || rec.TagsSum == "" || rec.Candidates != 2 {
				t.Fatalf("stored selection %+v, %v, %v; want one with a fingerprint, a tag sum and 2 candidates", rec, ok, err)
			}
			// Counts apart from the real ones (2 and 0) show a scan
			// answered from the stored record.
			rec.Candidates, rec.Dropped = 7, 3
			if err := st.PutSelection("apps:app", rec); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.oldRecord {
				writeOldSelection(t, state.Path(stateDir), "apps:app", rec)
			}

			// The restart.
			writeConfig(tc.restartRange)
			svc, st, obs = start()
			defer func() { _ = st.Close() }()
			reg.Faults.ResetLog()
			if res := run(svc, obs); !res.NothingToDo {
				t.Errorf("first run after the restart: nothing to do %v, want true", res.NothingToDo)
			}
			requests := len(reg.Faults.Log())
			if tc.wantResumed && requests != 0 {
				t.Errorf("first run after the restart made %d registry requests, want none (the stored selection)", requests)
			}
			if !tc.wantResumed && requests == 0 {
				t.Errorf("first run after the restart made no registry request, want a scan")
			}
			sel := scan(svc, obs)
			if got, want := sel.Candidates == 7, tc.wantResumed; got != want {
				t.Errorf("first scan after the restart: %d candidates; answered from the stored record: %v, want %v", sel.Candidates, got, want)
			}
			rec, _, err = st.Selection("apps:app")
			if err != nil || rec.Fingerprint == "" || rec.TagsSum == "" || rec.Ref != sel.Ref {
				t.Errorf("stored selection after the scan %+v, %v; want %s with a fingerprint and a tag sum", rec, err, sel.Ref)
			}
		})
	}
}

// writeOldSelection stores the selection of key as hoist wrote it before
// it kept fingerprints: a bbolt file of the same version, whose record has
// only the reference, the tag and the time.
func writeOldSelection(t *testing.T, path, key string, rec state.SelectionRecord) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	old, err := json.Marshal(map[string]any{"ref": rec.Ref, "tag": rec.Tag, "at": rec.At})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("selections")).Put([]byte(key), old)
	}); err != nil {
		t.Fatal(err)
	}
}
