package pullrequest_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/hoist-dev/hoist/writeback/pullrequest"
)

// TestClosePullRequest: GitHub and GitLab close the open pull request from
// the head into the base only when it has the number hoist recorded; one
// with another number (a person's) gets no write.
func TestClosePullRequest(t *testing.T) {
	ghList := exchange{method: "GET", path: "/api/v3/repos/acme/fleet/pulls",
		query: url.Values{"state": {"open"}, "head": {"acme:hoist/prod"}, "base": {"main"}, "per_page": {"100"}}, status: 200, file: "pr-open-list.json"}
	glList := exchange{method: "GET", path: "/api/v4/projects/group%2Fsub%2Ffleet/merge_requests",
		query: url.Values{"state": {"opened"}, "source_branch": {"hoist/prod"}, "target_branch": {"main"}, "per_page": {"100"}}, status: 200, file: "mr-open-list.json"}
	tests := map[string]struct {
		forge  string
		script []exchange
		number int64
		closed bool
	}{
		"github, hoist's": {"github", []exchange{ghList,
			{method: "PATCH", path: "/api/v3/repos/acme/fleet/pulls/7", body: `{"state":"closed"}`, status: 200, file: "pr-updated.json"}}, 7, true},
		"github, another number": {"github", []exchange{ghList}, 8, false},
		"gitlab, hoist's": {"gitlab", []exchange{glList,
			{method: "PUT", path: "/api/v4/projects/group%2Fsub%2Ffleet/merge_requests/3", body: `{"state_event":"close"}`, status: 200, file: "mr-updated.json"}}, 3, true},
		"gitlab, another number": {"gitlab", []exchange{glList}, 4, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			auth := func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+testToken }
			if tc.forge == "gitlab" {
				auth = func(r *http.Request) bool { return r.Header.Get("Private-Token") == testToken }
			}
			srv := newReplayServer(t, tc.forge, auth, tc.script)
			opts := pullrequest.Options{RepoURL: "git@github.example.com:acme/fleet.git", Kind: pullrequest.GitHub, APIURL: srv.URL + "/api/v3/", Token: testToken}
			if tc.forge == "gitlab" {
				opts = pullrequest.Options{RepoURL: "https://gitlab.example.com/group/sub/fleet.git", Kind: pullrequest.GitLab, APIURL: srv.URL, Token: testToken}
			}
			p, err := pullrequest.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			closed, err := p.ClosePullRequest(context.Background(), pullrequest.Request{Head: "hoist/prod", Base: "main"}, tc.number)
			if err != nil || closed != tc.closed {
				t.Fatalf("ClosePullRequest = %v, %v; want %v", closed, err, tc.closed)
			}
		})
	}
}
