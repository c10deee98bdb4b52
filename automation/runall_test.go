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

// TestRunAll runs automations of two Git repositories: those of one
// repository one after another, the repositories in parallel, and returns
// the results in document order.
func TestRunAll(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "apps/api", "2.0.0", testenv.ImageOptions{})
	reg.PushImage(t, "apps/web", "3.0.0", testenv.ImageOptions{})
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{})
	var docs strings.Builder
	fmt.Fprintf(&docs, `apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: api, namespace: apps}
spec: {image: %[1]s/apps/api}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: web, namespace: apps}
spec: {image: %[1]s/apps/web}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: api, namespace: apps}
spec: {imageRepositoryRef: {name: api}, policy: {semver: {range: '>=1'}}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: web, namespace: apps}
spec: {imageRepositoryRef: {name: web}, policy: {semver: {range: '>=1'}}}
`, reg.Host)
	// Repository one has two automations (two update paths); two has one.
	autos := []struct{ name, repo, path string }{
		{"one-api", "one.git", "api"}, {"two", "two.git", "."}, {"one-web", "one.git", "web"},
	}
	for _, repo := range []string{"one.git", "two.git"} {
		testenv.GitInitBare(t, gitSrv.RepoDir(repo), "main")
		testenv.GitCommitFiles(t, gitSrv.RepoDir(repo), "main", "initial", map[string]string{
			"api/api.yaml": fmt.Sprintf("image: %s/apps/api:1.0.0 # {\"$imagepolicy\": \"apps:api\"}\n", reg.Host),
			"web/web.yaml": fmt.Sprintf("image: %s/apps/web:1.0.0 # {\"$imagepolicy\": \"apps:web\"}\n", reg.Host),
		})
	}
	for _, a := range autos {
		fmt.Fprintf(&docs, `---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: %s, namespace: apps}
spec:
  git:
    url: %s
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
  update: {path: %s}
`, a.name, gitSrv.RepoURL(a.repo), a.path)
	}
	set, err := config.Parse("hoist.yaml", []byte(docs.String()))
	if err != nil {
		t.Fatal(err)
	}
	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	runner := &automation.Runner{Scanner: &automation.Scanner{Registry: client}, StateDir: t.TempDir()}
	results := runner.RunAll(t.Context(), set)
	if len(results) != len(autos) {
		t.Fatalf("%d results, want %d", len(results), len(autos))
	}
	for i, res := range results {
		if res.Name != autos[i].name {
			t.Errorf("result %d is %s, want %s (document order)", i, res.Name, autos[i].name)
		}
		if res.Failed() || !res.Pushed {
			t.Errorf("%s: pushed %v, error %v %v", res.Name, res.Pushed, res.Err, res.Errors)
		}
	}
	for repo, want := range map[string][]string{
		"one.git": {"apps/api:2.0.0", "apps/web:3.0.0"},
		"two.git": {"apps/api:2.0.0", "apps/web:3.0.0"},
	} {
		got := testenv.GitCLI(t, gitSrv.RepoDir(repo), "show", "main:api/api.yaml") + testenv.GitCLI(t, gitSrv.RepoDir(repo), "show", "main:web/web.yaml")
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s main lacks %s:\n%s", repo, w, got)
			}
		}
	}
	// one.git got two commits, one after the other, neither lost.
	if n := strings.Count(testenv.GitCLI(t, gitSrv.RepoDir("one.git"), "rev-list", "main"), "\n"); n != 3 {
		t.Errorf("one.git has %d commits, want 3", n)
	}
}
