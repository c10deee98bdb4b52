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
// updates the same pull request instead of opening a second. Then a person
// opens their own pull request from hoist's branch: the next runs leave it
// as it is (no state store needed: hoist's carry a hidden marker).
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
	if body, _ := prs[0]["body"].(string); !strings.Contains(body, "apps/web:1.2.0") || !strings.Contains(body, "<!-- hoist: automation apps/prod -->") {
		t.Errorf("the pull request body does not list the new change or lacks hoist's marker:\n%s", body)
	}

	// A person closes hoist's pull request, pushes onto hoist's branch
	// and opens their own from it: hoist's next runs leave its title,
	// body and labels as they are, open no second one, and say so.
	number := int64(prs[0]["number"].(float64))
	g.API(t, "PATCH", fmt.Sprintf("repos/%s/fleet/pulls/%d", g.AdminUser, number), map[string]any{"state": "closed"}, nil)
	var label struct {
		ID int64 `json:"id"`
	}
	g.API(t, "POST", "repos/"+g.AdminUser+"/fleet/labels", map[string]any{"name": "needs-review", "color": "#00aabb"}, &label)
	var mine struct {
		Number  int64  `json:"number"`
		HTMLURL string `json:"html_url"`
	}
	g.API(t, "POST", "repos/"+g.AdminUser+"/fleet/pulls", map[string]any{
		"head": "hoist/prod", "base": "main", "title": "Update web and fix its probe", "body": "My own description.", "labels": []int64{label.ID},
	}, &mine)
	for _, tag := range []string{"1.3.0", "1.4.0"} {
		reg.Tag(t, "apps/web", d, tag)
		r := hoist(t, env, "run", "--once", "-c", cfg, "-o", "json", "--log-level", "debug")
		if r.code != 0 {
			t.Fatalf("run after %s: exit %d\n%s\n%s", tag, r.code, r.stdout, r.stderr)
		}
		var res result
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		if res.Automations[0].PullRequest != mine.HTMLURL {
			t.Errorf("run after %s: pull request %q, want the person's %s", tag, res.Automations[0].PullRequest, mine.HTMLURL)
		}
		if want := fmt.Sprintf("pull request #%d from hoist/prod was not opened by hoist: left as it is", mine.Number); !strings.Contains(r.stderr, want) {
			t.Errorf("run after %s: the log does not say %q:\n%s", tag, want, r.stderr)
		}
		prs := openPRs()
		if len(prs) != 1 {
			t.Fatalf("run after %s: %d open pull requests, want the person's only", tag, len(prs))
		}
		labels, _ := prs[0]["labels"].([]any)
		if prs[0]["title"] != "Update web and fix its probe" || prs[0]["body"] != "My own description." || len(labels) != 1 {
			t.Errorf("run after %s: the person's pull request changed: title %q, body %q, labels %v", tag, prs[0]["title"], prs[0]["body"], labels)
		}
	}
	// main is untouched: changes go through the pull request.
	var file struct{ Content string }
	g.API(t, "GET", "repos/"+g.AdminUser+"/fleet/contents/deploy/web.yaml?ref=main", nil, &file)
	if got, _ := base64.StdEncoding.DecodeString(file.Content); string(got) != manifest {
		t.Errorf("main was changed:\n%s", got)
	}
}

// TestRunOnceGroupedPullRequestsGitea: with groupBy: policy, three policies
// make three branches and three pull requests; a new tag updates one of
// them in place; a person's pull request from a similarly named branch is
// left alone; when a policy's selection moves back to what main has, hoist
// closes the pull request it opened for it.
func TestRunOnceGroupedPullRequestsGitea(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Gitea")
	}
	g := testenv.StartGitea(t)
	cloneURL := g.CreateRepo(t, "fleet")
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	names := []string{"api", "db", "web"}
	digests := map[string]string{}
	for _, n := range names {
		digests[n] = reg.PushImage(t, "apps/"+n, "1.0.0", testenv.ImageOptions{})
		reg.Tag(t, "apps/"+n, digests[n], "1.1.0")
	}
	put := func(path, content, branch string) {
		g.API(t, "POST", "repos/"+g.AdminUser+"/fleet/contents/"+path, map[string]any{
			"content": base64.StdEncoding.EncodeToString([]byte(content)), "message": "add " + path, "branch": branch,
		}, nil)
	}
	manifests := map[string]string{}
	for _, n := range names {
		manifests[n] = fmt.Sprintf("kind: Deployment\nmetadata: {name: %[1]s, namespace: apps}\nspec:\n  image: %[2]s/apps/%[1]s:1.0.0 # {\"$imagepolicy\": \"apps:%[1]s\"}\n", n, reg.Host)
		put("deploy/"+n+".yaml", manifests[n], "main")
	}
	// A person's pull request from hoist/prod/web-fix, a name next to
	// hoist's hoist/prod/web.
	g.API(t, "POST", "repos/"+g.AdminUser+"/fleet/branches", map[string]any{"new_branch_name": "hoist/prod/web-fix", "old_branch_name": "main"}, nil)
	put("deploy/notes.txt", "by hand\n", "hoist/prod/web-fix")
	var personal struct {
		Number int64 `json:"number"`
	}
	g.API(t, "POST", "repos/"+g.AdminUser+"/fleet/pulls", map[string]any{"head": "hoist/prod/web-fix", "base": "main", "title": "Fix web by hand"}, &personal)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	secrets := filepath.Join(dir, "secrets")
	writeFile(t, filepath.Join(secrets, "gitea", "username"), g.AdminUser)
	writeFile(t, filepath.Join(secrets, "gitea", "password"), g.Token)
	config := func(apiRange string) string {
		var docs strings.Builder
		for _, n := range names {
			rng := "^1"
			if n == "api" {
				rng = apiRange
			}
			fmt.Fprintf(&docs, `apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: %[1]s, namespace: apps}
spec: {image: %[2]s/apps/%[1]s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: %[1]s, namespace: apps}
spec:
  imageRepositoryRef: {name: %[1]s}
  policy: {semver: {range: '%[3]s'}}
---
`, n, reg.Host, rng)
		}
		fmt.Fprintf(&docs, `apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: prod, namespace: apps}
spec:
  git:
    url: %s
    secretRef: {name: gitea}
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
    push:
      pullRequest: {labels: [automation], provider: gitea, groupBy: policy}
  update: {path: ./deploy}
`, cloneURL)
		return docs.String()
	}
	writeFile(t, filepath.Join(cfg, "hoist.yaml"), config("^1"))
	env := []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state"), "HOIST_SECRETS_DIR=" + secrets}

	type group struct {
		Group, Branch, Commit, PullRequest string
		Pushed, Closed                     bool
	}
	type result struct {
		Automations []struct {
			Pushed bool
			Groups []group
			Error  string
		}
	}
	run := func() []group {
		t.Helper()
		r := hoist(t, env, "run", "--once", "-c", cfg, "-o", "json")
		if r.code != 0 {
			t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		var res result
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Automations) != 1 {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		return res.Automations[0].Groups
	}
	type pr struct {
		Number int64  `json:"number"`
		Title  string `json:"title"`
		Body   string `json:"body"`
		State  string `json:"state"`
		Head   struct {
			Ref string `json:"ref"`
			Sha string `json:"sha"`
		} `json:"head"`
	}
	openPRs := func() map[string]pr {
		var prs []pr
		g.API(t, "GET", "repos/"+g.AdminUser+"/fleet/pulls?state=open&limit=50", nil, &prs)
		out := map[string]pr{}
		for _, p := range prs {
			out[p.Head.Ref] = p
		}
		return out
	}

	first := run()
	if len(first) != 3 {
		t.Fatalf("first run: %d groups, want 3: %+v", len(first), first)
	}
	for i, n := range names {
		if first[i].Group != n || first[i].Branch != "hoist/prod/"+n || !first[i].Pushed || first[i].PullRequest == "" {
			t.Errorf("group %d: %+v, want %s pushed to hoist/prod/%s with a pull request", i, first[i], n, n)
		}
	}
	prs := openPRs()
	if len(prs) != 4 {
		t.Fatalf("%d open pull requests, want 3 of hoist's and the person's: %+v", len(prs), prs)
	}
	for _, n := range names {
		p, ok := prs["hoist/prod/"+n]
		if !ok || p.Title != "Update images (apps/prod): "+n || !strings.Contains(p.Body, "apps/"+n+":1.1.0") {
			t.Errorf("pull request of %s: %+v", n, p)
		}
		for _, other := range names {
			if other != n && strings.Contains(p.Body, "apps/"+other+":") {
				t.Errorf("pull request of %s lists a change of %s:\n%s", n, other, p.Body)
			}
		}
	}

	// A new tag of web updates web's pull request in place; api's and
	// db's branches do not move.
	reg.Tag(t, "apps/web", digests["web"], "1.2.0")
	second := run()
	after := openPRs()
	if len(after) != 4 {
		t.Fatalf("%d open pull requests after the new tag, want 4", len(after))
	}
	for _, gr := range second {
		switch gr.Group {
		case "web":
			if !gr.Pushed || gr.PullRequest != first[2].PullRequest {
				t.Errorf("web: %+v, want a push to the same pull request %s", gr, first[2].PullRequest)
			}
		default:
			if gr.Pushed {
				t.Errorf("%s pushed again with nothing new: %+v", gr.Group, gr)
			}
		}
	}
	if p := after["hoist/prod/web"]; p.Number != prs["hoist/prod/web"].Number || !strings.Contains(p.Body, "apps/web:1.2.0") {
		t.Errorf("web's pull request was not updated in place: %+v", p)
	}
	for _, n := range []string{"api", "db"} {
		if after["hoist/prod/"+n].Head.Sha != prs["hoist/prod/"+n].Head.Sha {
			t.Errorf("%s's branch moved", n)
		}
	}

	// api's selection moves back to what main has: hoist closes the pull
	// request it opened; the person's stays open and untouched.
	writeFile(t, filepath.Join(cfg, "hoist.yaml"), config("~1.0.0"))
	third := run()
	var closed []string
	for _, gr := range third {
		if gr.Closed {
			closed = append(closed, gr.Branch)
		}
	}
	if len(closed) != 1 || closed[0] != "hoist/prod/api" {
		t.Errorf("closed %v, want [hoist/prod/api]", closed)
	}
	final := openPRs()
	if _, ok := final["hoist/prod/api"]; ok || len(final) != 3 {
		t.Errorf("open pull requests after api moved back: %v", final)
	}
	if p, ok := final["hoist/prod/web-fix"]; !ok || p.Number != personal.Number || p.Title != "Fix web by hand" {
		t.Errorf("the person's pull request was touched: %+v", p)
	}
}
