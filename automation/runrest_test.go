package automation_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/automation/state"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// restDocs is the configuration of TestRunAtRest: one automation of the
// Git repository url, and two policies whose selections the caller knows
// (no registry is asked: the one named refuses connections). app is a
// field of the app policy's spec (hold, respectManualChanges).
func restDocs(url, app, template string) string {
	return fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: apps}
spec:
  git:
    url: %[1]s
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}, messageTemplate: %[3]q}
  update: {path: ./deploy, strategy: Setters}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: apps}
spec: {image: 127.0.0.1:1/apps/app}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: '>=1.0.0'}}
  %[2]s
---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: web, namespace: apps}
spec: {image: 127.0.0.1:1/apps/web}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: web, namespace: apps}
spec:
  imageRepositoryRef: {name: web}
  policy: {semver: {range: '>=1.0.0'}}
`, url, app, template)
}

func restFile(app, web string) string {
	return fmt.Sprintf("app: 127.0.0.1:1/apps/app:%s # {\"$imagepolicy\": \"apps:app\"}\nweb: 127.0.0.1:1/apps/web:%s # {\"$imagepolicy\": \"apps:web\"}\n", app, web)
}

// TestRunAtRest: a run whose checkout did not move since the last run,
// which changed nothing, with the same configuration and selections,
// skips its edit and reports what that run did (without a checkout when
// the remote's branch is at the same commit: a listing tells); anything between the runs
// that could change the files makes the run edit again: a new selection, a
// reload (another spec, a hold), a commit of another writer under the
// update path (one elsewhere in the repository leaves the files the edit
// reads, unless a link makes them unknown).
func TestRunAtRest(t *testing.T) {
	const base = "127.0.0.1:1/apps/"
	type world struct {
		set   *config.Set
		known map[string]string
		bare  string
		url   string
		st    *state.Store
		run   func() automation.RunResult
		first automation.RunResult
	}
	tests := map[string]struct {
		// held starts with app held, and 1.1.0 known for it: the runs
		// keep that change back.
		held bool
		// setup changes the world before the run that remembers; kept is
		// how many changes that run keeps back (held or not).
		setup func(t *testing.T, w *world)
		kept  int
		// between changes the world after the run that remembers.
		between func(t *testing.T, w *world)
		// skip: the run after it skips the edit; synced: it syncs its
		// checkout even so (the branch moved).
		skip, synced bool
		// want checks the run after it.
		want func(t *testing.T, w *world, res automation.RunResult)
	}{
		"nothing changed":                {skip: true},
		"nothing changed, a change held": {held: true, kept: 1, skip: true},
		"a new selection": {
			between: func(_ *testing.T, w *world) { w.known["apps:app"] = base + "app:1.1.0" },
			want: func(t *testing.T, w *world, res automation.RunResult) {
				if !res.Pushed || !strings.Contains(testenv.GitCLI(t, w.bare, "show", "main:deploy/apps.yaml"), "app:1.1.0") {
					t.Errorf("pushed %v, want app:1.1.0 pushed", res.Pushed)
				}
			},
		},
		"a selection forgotten": {
			// The policy is scanned again: the registry does not
			// answer, and the run says so.
			between: func(_ *testing.T, w *world) { delete(w.known, "apps:web") },
			want: func(t *testing.T, _ *world, res automation.RunResult) {
				if !res.Failed() {
					t.Errorf("run did not scan web: %+v", res)
				}
			},
		},
		"another automation spec": {
			between: func(t *testing.T, w *world) {
				w.set = parseRest(t, restDocs(w.url, "hold: false", "bump {{ .Changed }}"))
			},
			want: func(t *testing.T, _ *world, res automation.RunResult) {
				if !res.NothingToDo {
					t.Errorf("nothing to do %v, want true", res.NothingToDo)
				}
			},
		},
		"a hold and a new selection": {
			between: func(t *testing.T, w *world) {
				w.set = parseRest(t, restDocs(w.url, "hold: true", ""))
				w.known["apps:app"] = base + "app:1.1.0"
			},
			want: func(t *testing.T, _ *world, res automation.RunResult) {
				if res.Pushed || len(res.Kept) != 1 || res.Kept[0].Reason != automation.KeptHold || res.Kept[0].New != base+"app:1.1.0" {
					t.Errorf("pushed %v, kept %+v; want 1.1.0 kept back as held", res.Pushed, res.Kept)
				}
			},
		},
		"a hold released": {
			held:    true,
			kept:    1,
			between: func(t *testing.T, w *world) { w.set = parseRest(t, restDocs(w.url, "hold: false", "")) },
			want: func(t *testing.T, w *world, res automation.RunResult) {
				if !res.Pushed || len(res.Kept) != 0 || !strings.Contains(testenv.GitCLI(t, w.bare, "show", "main:deploy/apps.yaml"), "app:1.1.0") {
					t.Errorf("pushed %v, kept %+v; want app:1.1.0 pushed", res.Pushed, res.Kept)
				}
			},
		},
		"respectManualChanges: the value recorded changed": {
			// hoist wrote 1.1.0, a person 1.0.5: 1.1.0 is kept back.
			// Then the state store says hoist wrote 1.0.5 itself.
			setup: func(t *testing.T, w *world) {
				w.set = parseRest(t, restDocs(w.url, "respectManualChanges: true", ""))
				w.known["apps:app"] = base + "app:1.1.0"
				if res := w.run(); !res.Pushed {
					t.Fatalf("setup: pushed %v, %v %v", res.Pushed, res.Err, res.Errors)
				}
				testenv.GitCommitFiles(t, w.bare, "main", "by hand", map[string]string{"deploy/apps.yaml": restFile("1.0.5", "1.0.0")})
			},
			kept: 1,
			between: func(t *testing.T, w *world) {
				key := automation.WrittenKey(w.set.Automations[0], w.first.Kept[0].Change)
				if err := w.st.PutWritten(map[string]state.WrittenRecord{key: {Value: base + "app:1.0.5"}}); err != nil {
					t.Fatal(err)
				}
			},
			want: func(t *testing.T, w *world, res automation.RunResult) {
				if !res.Pushed || !strings.Contains(testenv.GitCLI(t, w.bare, "show", "main:deploy/apps.yaml"), "app:1.1.0") {
					t.Errorf("pushed %v, kept %+v; want app:1.1.0 pushed", res.Pushed, res.Kept)
				}
			},
		},
		"a manual commit to the branch": {
			between: func(t *testing.T, w *world) {
				testenv.GitCommitFiles(t, w.bare, "main", "by hand", map[string]string{"deploy/apps.yaml": restFile("0.9.0", "1.0.0")})
			},
			want: func(t *testing.T, w *world, res automation.RunResult) {
				if !res.Pushed || !strings.Contains(testenv.GitCLI(t, w.bare, "show", "main:deploy/apps.yaml"), "app:1.0.0") {
					t.Errorf("pushed %v, want app:1.0.0 written back", res.Pushed)
				}
			},
		},
		"another writer's commit elsewhere": {
			// The update path's tree is the same: nothing the edit reads
			// changed.
			between: func(t *testing.T, w *world) {
				testenv.GitCommitFiles(t, w.bare, "main", "docs", map[string]string{"README.md": "fleet\n", "other/apps.yaml": restFile("0.9.0", "0.9.0")})
			},
			skip: true, synced: true,
		},
		"another writer's commit elsewhere, a link in the update path": {
			// A link makes the tree no measure of what the edit reads:
			// the commit is.
			setup: func(t *testing.T, w *world) {
				testenv.GitCommitFiles(t, w.bare, "main", "link", map[string]string{"deploy/link.txt": "!symlink apps.yaml"})
			},
			between: func(t *testing.T, w *world) {
				testenv.GitCommitFiles(t, w.bare, "main", "docs", map[string]string{"README.md": "fleet\n"})
			},
			want: func(t *testing.T, _ *world, res automation.RunResult) {
				if !res.NothingToDo {
					t.Errorf("nothing to do %v, want true", res.NothingToDo)
				}
			},
		},
		"a file added to the update path": {
			between: func(t *testing.T, w *world) {
				testenv.GitCommitFiles(t, w.bare, "main", "more", map[string]string{"deploy/more/apps.yaml": restFile("0.9.0", "1.0.0")})
			},
			want: func(t *testing.T, w *world, res automation.RunResult) {
				if !res.Pushed || !strings.Contains(testenv.GitCLI(t, w.bare, "show", "main:deploy/more/apps.yaml"), "app:1.0.0") {
					t.Errorf("pushed %v, want app:1.0.0 written to the new file", res.Pushed)
				}
			},
		},
	}
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{})
	client, err := registry.New(registry.WithRateLimit(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			repo := strings.ReplaceAll(name, " ", "-") + ".git"
			w := &world{bare: gitSrv.RepoDir(repo), url: gitSrv.RepoURL(repo)}
			testenv.GitInitBare(t, w.bare, "main")
			testenv.GitCommitFiles(t, w.bare, "main", "initial", map[string]string{"deploy/apps.yaml": restFile("1.0.0", "1.0.0")})
			w.set = parseRest(t, restDocs(w.url, fmt.Sprintf("hold: %v", tc.held), ""))
			w.known = map[string]string{"apps:app": base + "app:1.0.0", "apps:web": base + "web:1.0.0"}
			if tc.held {
				w.known["apps:app"] = base + "app:1.1.0"
			}
			runner, st := stateRunner(t, client)
			run := func() automation.RunResult {
				return runner.RunKnown(t.Context(), w.set, w.set.Automations[0], func(p *config.Policy) (string, bool) {
					ref, ok := w.known[p.Namespace+":"+p.Name]
					return ref, ok
				})
			}
			w.st, w.run = st, run
			if tc.setup != nil {
				tc.setup(t, w)
			}
			skipped0 := automation.EditsSkipped(runner)
			first := run()
			w.first = first
			if first.Failed() || !first.NothingToDo || automation.EditsSkipped(runner) != skipped0 || len(first.Kept) != tc.kept {
				t.Fatalf("first run: %v %v, nothing to do %v, kept %v, skipped %d", first.Err, first.Errors, first.NothingToDo, first.Kept, automation.EditsSkipped(runner))
			}
			syncs0 := automation.SyncsSkipped(runner)
			second := run()
			if automation.EditsSkipped(runner) != skipped0+1 || automation.SyncsSkipped(runner) != syncs0+1 {
				t.Fatalf("second run on the same commit: skipped %d edits and %d syncs, want 1 and 1", automation.EditsSkipped(runner)-skipped0, automation.SyncsSkipped(runner)-syncs0)
			}
			if d := cmp.Diff(first, second, cmpopts.EquateEmpty()); d != "" {
				t.Fatalf("second run (skipped) reports otherwise than the first (-first +second):\n%s", d)
			}
			setBefore, knownBefore := w.set, maps.Clone(w.known)
			if tc.between != nil {
				tc.between(t, w)
			}
			// The sync lists the remote's references first only when the
			// configuration and the selections are those of the run that
			// found nothing to do (a new selection fetches at once).
			wantList := w.set == setBefore && maps.Equal(w.known, knownBefore)
			if got := automation.ExpectsRest(runner, w.set, w.set.Automations[0], func(p *config.Policy) (string, bool) {
				ref, ok := w.known[p.Namespace+":"+p.Name]
				return ref, ok
			}); got != wantList {
				t.Errorf("run after: lists the references first %v, want %v", got, wantList)
			}
			res := run()
			if skipped := automation.EditsSkipped(runner) == skipped0+2; skipped != tc.skip {
				t.Errorf("run after: skipped the edit %v, want %v", skipped, tc.skip)
			}
			// A run at rest on the same commit needs no checkout: a
			// listing of the remote says the branch did not move.
			if skipped, want := automation.SyncsSkipped(runner) == syncs0+2, tc.skip && !tc.synced; skipped != want {
				t.Errorf("run after: answered without a checkout %v, want %v", skipped, want)
			}
			if tc.want != nil {
				tc.want(t, w, res)
			} else if d := cmp.Diff(first, res, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("run after (-first +got):\n%s", d)
			}
		})
	}
}

func parseRest(t *testing.T, docs string) *config.Set {
	t.Helper()
	set, err := config.Parse("hoist.yaml", []byte(docs))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// stateRunner is a Runner whose state store and Git cache live in a
// directory of tb's, scanning with client.
func stateRunner(tb testing.TB, client *registry.Client) (*automation.Runner, *state.Store) {
	tb.Helper()
	dir := tb.TempDir()
	st, err := state.Open(state.Path(dir), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return &automation.Runner{Scanner: &automation.Scanner{Registry: client}, StateDir: dir, State: st}, st
}
