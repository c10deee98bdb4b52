package automation_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// TestRunRemembersRepositoryDocuments: the documents of an automation's
// update path (here its own ImagePolicy) are read once per commit and
// configuration. A run on the same commit keeps them (the policy compiled
// once, so its selection is answered by the scanner's memo); a reload of
// the configuration reads them again, and so does a run after another
// writer's commit changed them, which then selects by the new policy.
func TestRunRemembersRepositoryDocuments(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	for _, tag := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		reg.PushImage(t, "apps/app", tag, testenv.ImageOptions{})
	}
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{})
	bare := gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	policyDoc := func(rng string) string {
		return fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: %q}}
`, rng)
	}
	testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
		"policy.yaml": policyDoc("^1"),
		"app.yaml":    fmt.Sprintf("image: %s # {\"$imagepolicy\": \"apps:app\"}\n", reg.Ref("apps/app", "0.9.0")),
	})
	docs := fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: apps}
spec: {image: %s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: apps}
spec:
  git:
    url: %s
    checkout: {ref: {branch: main}}
    commit: {author: {email: hoist@example.com}}
`, reg.Ref("apps/app", ""), gitSrv.RepoURL("fleet.git"))
	parse := func() *config.Set {
		t.Helper()
		set, err := config.Parse("hoist.yaml", []byte(docs))
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	client, err := registry.New(registry.WithRateLimit(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	scanner := &automation.Scanner{Registry: client}
	runner := &automation.Runner{Scanner: scanner, StateDir: t.TempDir()}
	set := parse()
	run := func(step string) automation.RunResult {
		t.Helper()
		res := runner.Run(t.Context(), set, set.Automations[0])
		if res.Failed() {
			t.Fatalf("%s: %v %v", step, res.Err, res.Errors)
		}
		return res
	}
	file := func() string { return testenv.GitCLI(t, bare, "show", "main:app.yaml") }

	if res := run("first run"); !res.Pushed || !strings.Contains(file(), "apps/app:1.1.0") {
		t.Fatalf("first run: pushed %v, app.yaml %q; want 1.1.0", res.Pushed, file())
	}
	run("run on hoist's commit") // reads the documents of the new commit
	hits := automation.SelectionMemoHits(scanner)
	if res := run("run on the same commit"); !res.NothingToDo {
		t.Errorf("run on the same commit: nothing to do %v", res.NothingToDo)
	}
	if got := automation.SelectionMemoHits(scanner); got != hits+1 {
		t.Errorf("run on the same commit: memo hits %d, want %d (the policy as read before)", got, hits+1)
	}

	set = parse() // a reload
	hits = automation.SelectionMemoHits(scanner)
	run("run after a reload")
	if got := automation.SelectionMemoHits(scanner); got != hits {
		t.Errorf("run after a reload: memo hits %d, want %d (the policy read again)", got, hits)
	}

	testenv.GitCommitFiles(t, bare, "main", "another writer", map[string]string{"policy.yaml": policyDoc("^2")})
	if res := run("run after another writer's commit"); !res.Pushed || !strings.Contains(file(), "apps/app:2.0.0") {
		t.Errorf("run after another writer's commit: pushed %v, app.yaml %q; want 2.0.0 (the new policy)", res.Pushed, file())
	}
}

// TestRunRemembersDocumentsOfUnchangedPath: the documents of an update path
// are kept while its tree is the same (a commit elsewhere in the repository
// leaves them), read again when a file under it changes, and read again at
// every new commit while it holds a link.
func TestRunRemembersDocumentsOfUnchangedPath(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	for _, tag := range []string{"1.0.0", "1.1.0"} {
		reg.PushImage(t, "apps/app", tag, testenv.ImageOptions{})
	}
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{})
	bare := gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
		"apps/policy.yaml": `apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: "^1"}}
`,
		"apps/app.yaml": fmt.Sprintf("image: %s # {\"$imagepolicy\": \"apps:app\"}\n", reg.Ref("apps/app", "1.1.0")),
	})
	set, err := config.Parse("hoist.yaml", []byte(fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: apps}
spec: {image: %s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: apps}
spec:
  git:
    url: %s
    checkout: {ref: {branch: main}}
    commit: {author: {email: hoist@example.com}}
  update: {path: ./apps}
`, reg.Ref("apps/app", ""), gitSrv.RepoURL("fleet.git"))))
	if err != nil {
		t.Fatal(err)
	}
	client, err := registry.New(registry.WithRateLimit(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	scanner := &automation.Scanner{Registry: client}
	runner := &automation.Runner{Scanner: scanner, StateDir: t.TempDir()}
	if res := runner.Run(t.Context(), set, set.Automations[0]); res.Failed() {
		t.Fatalf("first run: %v %v", res.Err, res.Errors)
	}
	// Each step commits files, then runs: a policy read as before is
	// answered by the selection memo (one hit more), a policy read again is
	// compiled anew and selected (no hit).
	steps := []struct {
		name  string
		files map[string]string
		kept  bool
	}{
		{"a commit outside the update path", map[string]string{"other/readme.md": "one"}, true},
		{"another one", map[string]string{"other/readme.md": "two"}, true},
		{"a file under the update path", map[string]string{"apps/notes.txt": "one"}, false},
		{"a link under the update path", map[string]string{"apps/shared/extra.yaml": "# nothing\n", "apps/extra.yaml": "!symlink shared/extra.yaml"}, false},
		// With a link under it, the path's tree is not trusted: the
		// commit decides (a link out of the update path fails the run).
		{"a commit outside, a link inside", map[string]string{"other/readme.md": "three"}, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			testenv.GitCommitFiles(t, bare, "main", st.name, st.files)
			hits := automation.SelectionMemoHits(scanner)
			if res := runner.Run(t.Context(), set, set.Automations[0]); res.Failed() {
				t.Fatalf("run: %v %v", res.Err, res.Errors)
			}
			if kept := automation.SelectionMemoHits(scanner) == hits+1; kept != st.kept {
				t.Errorf("documents kept %v, want %v", kept, st.kept)
			}
		})
	}
}
