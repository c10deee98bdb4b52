package pullrequest_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
	if prs[0].Title != req.Title || prs[0].Body != req.Body {
		t.Errorf("pull request = %q / %q, want %q / %q", prs[0].Title, prs[0].Body, req.Title, req.Body)
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
