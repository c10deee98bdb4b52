package pullrequest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback/git"
	"github.com/hoist-dev/hoist/writeback/pullrequest"
)

// TestGitHubApp opens a pull request with a GitHub App's installation
// token: the fake GitHub mints it at /api/v3/app/installations/ID/access_tokens,
// and the pull request API accepts exactly the tokens it minted. An hour
// later, a new token is minted.
func TestGitHubApp(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	gh := testenv.NewFakeGitHubApp(t, clock)
	list := exchange{
		method: "GET", path: "/api/v3/repos/acme/fleet/pulls",
		query:  map[string][]string{"state": {"open"}, "head": {"acme:hoist/prod"}, "base": {"main"}, "per_page": {"100"}},
		status: 200,
	}
	script := []exchange{
		{method: list.method, path: list.path, query: list.query, status: 200, file: "empty-list.json"},
		{method: "POST", path: "/api/v3/repos/acme/fleet/pulls",
			body:   `{"title":"Update 1 image reference (apps/prod)","head":"hoist/prod","base":"main","body":"- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.1.0\n\n<!-- hoist: automation apps/prod -->"}`,
			status: 201, file: "pr-created.json"},
		{method: "POST", path: "/api/v3/repos/acme/fleet/issues/7/labels", body: `["automation","images"]`, status: 200, file: "labels.json"},
		{method: list.method, path: list.path, query: list.query, status: 200, file: "pr-open-list.json"},
	}
	api := newReplayServer(t, "github", func(r *http.Request) bool {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && gh.Valid(tok)
	}, script)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v3/app/installations/") {
			gh.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	app, err := git.NewGitHubApp(gh.AppID, gh.InstallationID, gh.PrivateKeyPEM(), front.URL+"/api/v3")
	if err != nil {
		t.Fatal(err)
	}
	app.Now = clock
	p, err := pullrequest.New(pullrequest.Options{
		RepoURL: "https://github.example.com/acme/fleet.git", Kind: pullrequest.GitHub,
		APIURL: front.URL + "/api/v3/", GitHubApp: app,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.EnsurePullRequest(context.Background(), firstRequest)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pullrequest.PR{URL: "https://github.com/acme/fleet/pull/7", Number: 7, Created: true}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if n := gh.Tokens.Calls(); n != 1 {
		t.Errorf("token requests = %d, want 1 (one token for three API calls)", n)
	}
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	if _, err := p.EnsurePullRequest(context.Background(), pullrequest.Request{
		Head: "hoist/prod", Base: "main", Title: firstRequest.Title, Body: firstRequest.Body, Marker: testMarker, Labels: []string{"automation"},
	}); err != nil {
		t.Fatalf("an hour later: %v", err)
	}
	if n := gh.Tokens.Calls(); n != 2 {
		t.Errorf("token requests an hour later = %d, want 2", n)
	}
}

func TestGitHubAppOnlyOnGitHub(t *testing.T) {
	gh := testenv.NewFakeGitHubApp(t, time.Now)
	app, err := git.NewGitHubApp(gh.AppID, gh.InstallationID, gh.PrivateKeyPEM(), "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = pullrequest.New(pullrequest.Options{RepoURL: "https://gitlab.com/acme/fleet.git", GitHubApp: app})
	if err == nil || !strings.Contains(err.Error(), "GitHub only") {
		t.Errorf("New with a GitHub App on GitLab: err = %v, want it refused", err)
	}
}
