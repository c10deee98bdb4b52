package pullrequest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback"
	"github.com/hoist-dev/hoist/writeback/git"
	"github.com/hoist-dev/hoist/writeback/pullrequest"
)

// pushToBranch writes apps/app.yaml with image and pushes it to branch with
// hoist's git package.
func pushToBranch(t *testing.T, url string, auth git.Auth, cache, branch, image string) {
	t.Helper()
	ctx := context.Background()
	co, err := git.Sync(ctx, git.SyncOptions{URL: url, Branch: "main", CacheDir: cache, Auth: auth})
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	defer co.Close()
	edit := func(ctx context.Context, dir string) ([]writeback.Change, error) {
		p := filepath.Join(dir, "apps", "app.yaml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		return []writeback.Change{{File: "apps/app.yaml", New: image}}, os.WriteFile(p, []byte("image: "+image+"\n"), 0o644)
	}
	out, err := co.Update(ctx, edit, git.UpdateOptions{
		Commit: git.CommitOptions{Author: git.Signature{Name: "hoist", Email: "hoist@example.com"}},
		Push:   git.PushOptions{Branch: branch},
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if !out.Pushed {
		t.Fatalf("nothing pushed: %+v", out)
	}
}

type giteaPR struct {
	Number int64  `json:"number"`
	Title  string `json:"title"`
	Body   string `json:"body"`
	State  string `json:"state"`
	Labels []struct {
		Name string `json:"name"`
	} `json:"labels"`
	Head struct {
		Ref string `json:"ref"`
	} `json:"head"`
}

func openPRs(t *testing.T, g *testenv.Gitea, repo string) []giteaPR {
	t.Helper()
	var prs []giteaPR
	g.API(t, "GET", "repos/"+g.AdminUser+"/"+repo+"/pulls?state=open", nil, &prs)
	return prs
}

func labelNames(pr giteaPR) []string {
	var out []string
	for _, l := range pr.Labels {
		out = append(out, l.Name)
	}
	sort.Strings(out)
	return out
}

// TestGitea opens a pull request on a real Gitea, updates it on the next
// change, and checks that there is never a duplicate.
func TestGitea(t *testing.T) {
	start := time.Now()
	g := testenv.StartGitea(t)
	t.Logf("Gitea started in %v", time.Since(start).Round(time.Millisecond))
	url := g.CreateRepo(t, "fleet")
	auth := git.Auth{Username: g.AdminUser, Password: g.Token}
	cache := t.TempDir()
	ctx := context.Background()

	p, err := pullrequest.New(pullrequest.Options{RepoURL: url, Kind: pullrequest.Gitea, Token: pullrequest.TokenFromAuth(auth)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	pushToBranch(t, url, auth, cache, "hoist/prod", "ghcr.io/acme/app:1.1.0")
	req := pullrequest.Request{
		Head: "hoist/prod", Base: "main",
		Title:  "Update 1 image reference (apps/prod)",
		Body:   "- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.1.0",
		Labels: []string{"automation", "images"},
		Marker: testMarker,
	}
	first, err := p.EnsurePullRequest(ctx, req)
	if err != nil {
		t.Fatalf("EnsurePullRequest (open): %v", err)
	}
	if !first.Created || first.Number == 0 || first.URL == "" {
		t.Errorf("first = %+v, want a new pull request", first)
	}
	prs := openPRs(t, g, "fleet")
	if len(prs) != 1 {
		t.Fatalf("open pull requests = %d, want 1", len(prs))
	}
	if diff := cmp.Diff([]string{"automation", "images"}, labelNames(prs[0])); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}

	// A person adds a label; then hoist pushes the next change and updates
	// the same pull request.
	var personLabel struct {
		ID int64 `json:"id"`
	}
	g.API(t, "POST", "repos/"+g.AdminUser+"/fleet/labels", map[string]any{"name": "reviewed", "color": "#00aabb"}, &personLabel)
	g.API(t, "POST", "repos/"+g.AdminUser+"/fleet/issues/"+strconv.FormatInt(first.Number, 10)+"/labels", map[string]any{"labels": []int64{personLabel.ID}}, nil)

	pushToBranch(t, url, auth, cache, "hoist/prod", "ghcr.io/acme/app:1.2.0")
	req.Title = "Update 1 image reference (apps/prod), again"
	req.Body = "- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.2.0"
	req.Labels = []string{"automation", "images", "minor"}
	second, err := p.EnsurePullRequest(ctx, req)
	if err != nil {
		t.Fatalf("EnsurePullRequest (update): %v", err)
	}
	if diff := cmp.Diff(pullrequest.PR{URL: first.URL, Number: first.Number}, second); diff != "" {
		t.Errorf("second (-want +got):\n%s", diff)
	}
	prs = openPRs(t, g, "fleet")
	if len(prs) != 1 {
		t.Fatalf("open pull requests = %d after the update, want 1 (no duplicate)", len(prs))
	}
	if want := req.Body + "\n\n" + testMarker; prs[0].Title != req.Title || prs[0].Body != want {
		t.Errorf("pull request = %q / %q, want %q / %q", prs[0].Title, prs[0].Body, req.Title, want)
	}
	if diff := cmp.Diff([]string{"automation", "images", "minor", "reviewed"}, labelNames(prs[0])); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}

	// Nothing new: the same pull request, unchanged.
	third, err := p.EnsurePullRequest(ctx, req)
	if err != nil {
		t.Fatalf("EnsurePullRequest (no-op): %v", err)
	}
	if third != second {
		t.Errorf("third = %+v, want %+v", third, second)
	}
	if n := len(openPRs(t, g, "fleet")); n != 1 {
		t.Errorf("open pull requests = %d, want 1", n)
	}
}

// TestGiteaOwnership: on a real Gitea, a pull request a person opened from
// hoist's branch keeps its title, body and labels whatever hoist asks,
// and is never duplicated; one hoist opened before it wrote its marker is
// left alone too unless hoist's state records its number, and once updated
// it carries the marker, so a later run without the record (hoist run
// --once, a lost state store) still updates it.
func TestGiteaOwnership(t *testing.T) {
	g := testenv.StartGitea(t)
	auth := git.Auth{Username: g.AdminUser, Password: g.Token}
	ctx := context.Background()
	req := pullrequest.Request{
		Head: "hoist/prod", Base: "main",
		Title:  "Update images (apps/prod)",
		Body:   "- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.1.0",
		Labels: []string{"automation"},
		Marker: testMarker,
	}
	// setup opens a repository whose hoist/prod branch has a change, and
	// a pull request from it as a person would, with their title, body
	// and label.
	setup := func(t *testing.T, repo, title, body string) (pullrequest.Provider, giteaPR) {
		t.Helper()
		url := g.CreateRepo(t, repo)
		pushToBranch(t, url, auth, t.TempDir(), "hoist/prod", "ghcr.io/acme/app:1.1.0")
		var label struct {
			ID int64 `json:"id"`
		}
		g.API(t, "POST", "repos/"+g.AdminUser+"/"+repo+"/labels", map[string]any{"name": "needs-review", "color": "#00aabb"}, &label)
		var pr giteaPR
		g.API(t, "POST", "repos/"+g.AdminUser+"/"+repo+"/pulls", map[string]any{
			"head": "hoist/prod", "base": "main", "title": title, "body": body, "labels": []int64{label.ID},
		}, &pr)
		p, err := pullrequest.New(pullrequest.Options{RepoURL: url, Kind: pullrequest.Gitea, Token: pullrequest.TokenFromAuth(auth)})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return p, openPRs(t, g, repo)[0]
	}
	// ensure runs EnsurePullRequest and checks its answer and that there
	// is one open pull request.
	ensure := func(t *testing.T, p pullrequest.Provider, repo string, req pullrequest.Request, want pullrequest.PR) giteaPR {
		t.Helper()
		got, err := p.EnsurePullRequest(ctx, req)
		if err != nil {
			t.Fatalf("EnsurePullRequest: %v", err)
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(pullrequest.PR{}, "URL")); diff != "" {
			t.Errorf("EnsurePullRequest (-want +got):\n%s", diff)
		}
		prs := openPRs(t, g, repo)
		if len(prs) != 1 {
			t.Fatalf("open pull requests = %d, want 1 (no duplicate)", len(prs))
		}
		return prs[0]
	}
	same := func(t *testing.T, want, got giteaPR) {
		t.Helper()
		if diff := cmp.Diff([]string{want.Title, want.Body}, []string{got.Title, got.Body}); diff != "" {
			t.Errorf("title and body changed (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(labelNames(want), labelNames(got)); diff != "" {
			t.Errorf("labels changed (-want +got):\n%s", diff)
		}
	}

	t.Run("a person's pull request is left as it is", func(t *testing.T) {
		p, person := setup(t, "person", "Fix the app config too", "I pushed a fix onto hoist's branch; please review both.")
		for run := range 2 {
			req := req
			req.Title = fmt.Sprintf("Update images (apps/prod), run %d", run)
			same(t, person, ensure(t, p, "person", req, pullrequest.PR{Number: person.Number, LeftAlone: true}))
		}
	})

	t.Run("one hoist opened before the marker", func(t *testing.T) {
		// hoist's body then: no marker.
		p, before := setup(t, "legacy", req.Title, req.Body)
		// No record: hoist cannot tell it from a person's.
		same(t, before, ensure(t, p, "legacy", req, pullrequest.PR{Number: before.Number, LeftAlone: true}))
		// Recorded in the state store: updated, and marked.
		next := req
		next.Body = "- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.2.0"
		next.Owned = []int64{before.Number}
		got := ensure(t, p, "legacy", next, pullrequest.PR{Number: before.Number})
		if want := next.Body + "\n\n" + testMarker; got.Body != want {
			t.Errorf("body = %q, want %q", got.Body, want)
		}
		// Then the marker alone makes it hoist's.
		next.Owned = nil
		next.Title = "Update images (apps/prod), without the record"
		got = ensure(t, p, "legacy", next, pullrequest.PR{Number: before.Number})
		if got.Title != next.Title {
			t.Errorf("title = %q, want %q", got.Title, next.Title)
		}
		if diff := cmp.Diff([]string{"automation", "needs-review"}, labelNames(got)); diff != "" {
			t.Errorf("labels (-want +got):\n%s", diff)
		}
	})
}
