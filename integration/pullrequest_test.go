package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestRunOncePullRequestGitea runs hoist run --once against a real Gitea:
// the first change opens a pull request from hoist's branch, the next one
// updates the same pull request instead of opening a second.
func TestRunOncePullRequestGitea(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Gitea")
	}
	g := testenv.StartGitea(t) // skips without the binary, unless CI=true
	cloneURL := g.CreateRepo(t, "fleet")
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/web", "1.0.0", testenv.ImageOptions{Created: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)})
	reg.Tag(t, "apps/web", d, "1.1.0")

	manifest := fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: apps}\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: %s/apps/web:1.0.0 # {\"$imagepolicy\": \"apps:web\"}\n", reg.Host)
	g.API(t, "POST", "repos/"+g.AdminUser+"/fleet/contents/deploy/web.yaml", map[string]any{
		"content": base64.StdEncoding.EncodeToString([]byte(manifest)), "message": "add web", "branch": "main",
	}, nil)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	secrets := filepath.Join(dir, "secrets")
	writeFile(t, filepath.Join(secrets, "gitea", "username"), g.AdminUser)
	writeFile(t, filepath.Join(secrets, "gitea", "password"), g.Token)
	writeFile(t, filepath.Join(cfg, "hoist.yaml"), fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: web, namespace: apps}
spec: {image: %s/apps/web}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: web, namespace: apps}
spec:
  imageRepositoryRef: {name: web}
  policy: {semver: {range: '^1'}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: prod, namespace: apps}
spec:
  git:
    url: %s
    secretRef: {name: gitea}
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
    push:
      branch: hoist/prod
      pullRequest: {title: 'Update images', labels: [automation], provider: gitea}
  update: {path: ./deploy}
`, reg.Host, cloneURL))
	env := []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state"), "HOIST_SECRETS_DIR=" + secrets}

	type result struct {
		Automations []struct {
			Pushed      bool
			Branch      string
			PullRequest string
			Error       string
		}
	}
	run := func() result {
		t.Helper()
		r := hoist(t, env, "run", "--once", "-c", cfg, "-o", "json")
		if r.code != 0 {
			t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, g.Token) {
			t.Errorf("the Gitea token leaked into hoist's output")
		}
		var res result
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		return res
	}
	openPRs := func() []map[string]any {
		var prs []map[string]any
		g.API(t, "GET", "repos/"+g.AdminUser+"/fleet/pulls?state=open", nil, &prs)
		return prs
	}

	first := run()
	if len(first.Automations) != 1 || !first.Automations[0].Pushed || first.Automations[0].Branch != "hoist/prod" || first.Automations[0].PullRequest == "" {
		t.Fatalf("first run: %+v", first)
	}
	if prs := openPRs(); len(prs) != 1 {
		t.Fatalf("%d open pull requests after the first run, want 1", len(prs))
	}

	reg.Tag(t, "apps/web", d, "1.2.0")
	second := run()
	if !second.Automations[0].Pushed || second.Automations[0].PullRequest != first.Automations[0].PullRequest {
		t.Errorf("second run: %+v, want a push and the same pull request %s", second, first.Automations[0].PullRequest)
	}
	prs := openPRs()
	if len(prs) != 1 {
		t.Fatalf("%d open pull requests after the second run, want 1 (no duplicate)", len(prs))
	}
	if body, _ := prs[0]["body"].(string); !strings.Contains(body, "apps/web:1.2.0") {
		t.Errorf("the pull request body does not list the new change:\n%s", body)
	}
	// main is untouched: changes go through the pull request.
	var file struct{ Content string }
	g.API(t, "GET", "repos/"+g.AdminUser+"/fleet/contents/deploy/web.yaml?ref=main", nil, &file)
	if got, _ := base64.StdEncoding.DecodeString(file.Content); string(got) != manifest {
		t.Errorf("main was changed:\n%s", got)
	}
}
