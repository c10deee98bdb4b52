package service

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/automation/state"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// lockedBuffer is a log destination that scans write to concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// loadedService is a Service of the documents docs, loaded (not run),
// logging into the buffer it returns.
func loadedService(t *testing.T, docs string) (*Service, *lockedBuffer) {
	t.Helper()
	configPath := filepath.Join(t.TempDir(), "hoist.yaml")
	if err := os.WriteFile(configPath, []byte(docs), 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := registry.New(registry.WithRateLimit(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	svc, err := NewService(ServiceOptions{
		Runner:      &automation.Runner{Scanner: &automation.Scanner{Registry: client}, StateDir: t.TempDir()},
		ConfigPaths: []string{configPath}, Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Load(); err != nil {
		t.Fatal(err)
	}
	return svc, logs
}

// TestFirstRoundDone: "every repository scanned" is said once, by the scan
// that completes the first round of the repositories not suspended (when
// the start-up's garbage is handed back), and not again.
func TestFirstRoundDone(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	var docs strings.Builder
	for i, suspend := range []bool{false, false, true} {
		name := fmt.Sprintf("app%d", i)
		reg.PushImage(t, "apps/"+name, "1.0.0", testenv.ImageOptions{})
		fmt.Fprintf(&docs, `---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: %[1]s, namespace: apps}
spec: {image: %[2]s, suspend: %[3]t}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: %[1]s, namespace: apps}
spec:
  imageRepositoryRef: {name: %[1]s}
  policy: {semver: {range: '>=1'}}
`, name, reg.Ref("apps/"+name, ""), suspend)
	}
	svc, logs := loadedService(t, docs.String())
	const said = `msg="every repository scanned" repositories=2`
	var got []int
	// app2 is suspended: the round is done without it, and a scan of it
	// later (a webhook's) says nothing again.
	for _, key := range []string{"apps/app0", "apps/app0", "apps/app1", "apps/app0", "apps/app2", "apps/app1"} {
		if err := svc.scanRepository(t.Context(), key); err != nil {
			t.Fatal(err)
		}
		got = append(got, logs.count(said))
	}
	if diff := cmp.Diff([]int{0, 0, 1, 1, 1, 1}, got); diff != "" {
		t.Errorf("times said after each scan (-want +got):\n%s", diff)
	}
}

// TestRecordSelectionAtRest: a rescan that finds what the last one found
// (same documents, same tag list, same selection) neither reads nor writes
// the state store; a new tag, even one the policy does not select, brings
// the stored record up to date (its tag list's sum, which a restart
// resumes from).
func TestRecordSelectionAtRest(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "apps/app", "1.0.0", testenv.ImageOptions{})
	configPath := filepath.Join(t.TempDir(), "hoist.yaml")
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
  policy: {semver: {range: '^1'}}
`, reg.Ref("apps/app", ""))
	if err := os.WriteFile(configPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	st, err := state.Open(state.Path(stateDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	client, err := registry.New(registry.WithRateLimit(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(ServiceOptions{
		Runner:      &automation.Runner{Scanner: &automation.Scanner{Registry: client}, StateDir: stateDir, State: st},
		ConfigPaths: []string{configPath}, Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Load(); err != nil {
		t.Fatal(err)
	}
	stored := func() bool {
		t.Helper()
		_, ok, err := st.Selection("apps:app")
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	steps := []struct {
		name       string
		push       string // a tag pushed before the scan
		forget     bool   // the record deleted behind the service's back first
		wantStored bool
	}{
		{name: "first scan records", wantStored: true},
		{name: "a rescan at rest touches nothing", forget: true, wantStored: false},
		{name: "a tag the policy leaves out updates the record", push: "2.0.0", wantStored: true},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.push != "" {
				reg.PushImage(t, "apps/app", step.push, testenv.ImageOptions{})
			}
			if step.forget {
				if err := st.DeleteSelection("apps:app"); err != nil {
					t.Fatal(err)
				}
			}
			if err := svc.scanRepository(t.Context(), "apps/app"); err != nil {
				t.Fatal(err)
			}
			if got := stored(); got != step.wantStored {
				t.Errorf("record stored %v, want %v", got, step.wantStored)
			}
		})
	}
}

// TestFirstRunsDone: "every automation ran" is said once, by the flush
// that completes the runs of every automation not suspended after the
// first round of scans (the runs that waited for it come then, and their
// garbage is handed back), and not before the round is done.
func TestFirstRunsDone(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "apps/app", "1.0.0", testenv.ImageOptions{})
	var docs strings.Builder
	fmt.Fprintf(&docs, `apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: apps}
spec: {image: %s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: '>=1'}}
`, reg.Ref("apps/app", ""))
	for i, suspend := range []bool{false, false, true} {
		// No Git server: each run fails at once, and counts as run.
		fmt.Fprintf(&docs, `---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: a%d, namespace: apps}
spec:
  suspend: %t
  git:
    url: http://127.0.0.1:1/none.git
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
  update: {path: ./, strategy: Setters}
`, i, suspend)
	}
	svc, logs := loadedService(t, docs.String())
	const said = `msg="every automation ran" automations=2`
	var got []int
	// Both run before the round is done (which is not enough), a0 again
	// after it (it completes nothing: the runs since start count); a2 is
	// suspended.
	steps := []func(){
		func() { _ = svc.flush(t.Context(), "", []string{"apps/a0"}) },
		func() { _ = svc.flush(t.Context(), "", []string{"apps/a1"}) },
		func() {
			if err := svc.scanRepository(t.Context(), "apps/app"); err != nil {
				t.Fatal(err)
			}
		},
		func() { _ = svc.flush(t.Context(), "", []string{"apps/a0"}) },
		func() { _ = svc.flush(t.Context(), "", []string{"apps/a0", "apps/a1"}) },
	}
	for _, step := range steps {
		step()
		got = append(got, logs.count(said))
	}
	if diff := cmp.Diff([]int{0, 0, 0, 1, 1}, got); diff != "" {
		t.Errorf("times said after each step (-want +got):\n%s", diff)
	}
}
