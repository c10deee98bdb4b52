package pullrequest_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/writeback/pullrequest"
)

func TestGitLab(t *testing.T) {
	const project = "/api/v4/projects/group%2Fsub%2Ffleet/merge_requests"
	list := exchange{
		method: "GET", path: project,
		query:  url.Values{"state": {"opened"}, "source_branch": {"hoist/prod"}, "target_branch": {"main"}, "per_page": {"100"}},
		status: 200,
	}
	with := func(e exchange, file string) exchange { e.file = file; return e }
	create := exchange{method: "POST", path: project,
		body:   `{"title":"Update 1 image reference (apps/prod)","description":"- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.1.0\n\n<!-- hoist: automation apps/prod -->","source_branch":"hoist/prod","target_branch":"main","labels":"automation,images"}`,
		status: 201, file: "mr-created.json"}
	tests := map[string]struct {
		script  []exchange
		req     pullrequest.Request
		want    pullrequest.PR
		wantErr string
	}{
		"open a new one": {
			script: []exchange{with(list, "empty-list.json"), create},
			req:    firstRequest,
			want:   pullrequest.PR{URL: "https://gitlab.example.com/group/sub/fleet/-/merge_requests/3", Number: 3, Created: true},
		},
		"a fork's merge request is not hoist's": {
			script: []exchange{with(list, "mr-fork-list.json"), create},
			req:    firstRequest,
			want:   pullrequest.PR{URL: "https://gitlab.example.com/group/sub/fleet/-/merge_requests/3", Number: 3, Created: true},
		},
		"update the open one": {
			script: []exchange{
				with(list, "mr-open-list.json"),
				{method: "PUT", path: project + "/3",
					body:   `{"title":"Update 1 image reference (apps/prod), again","description":"- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.2.0\n\n<!-- hoist: automation apps/prod -->","add_labels":"images"}`,
					status: 200, file: "mr-updated.json"},
			},
			req:  nextRequest,
			want: pullrequest.PR{URL: "https://gitlab.example.com/group/sub/fleet/-/merge_requests/3", Number: 3},
		},
		"a person's open one is left as it is": {
			script: []exchange{with(list, "mr-person-list.json")},
			req:    nextRequest,
			want:   pullrequest.PR{URL: "https://gitlab.example.com/group/sub/fleet/-/merge_requests/3", Number: 3, LeftAlone: true},
		},
		"one hoist opened before the marker, not recorded, is left as it is": {
			script: []exchange{with(list, "mr-unmarked-list.json")},
			req:    nextRequest,
			want:   pullrequest.PR{URL: "https://gitlab.example.com/group/sub/fleet/-/merge_requests/3", Number: 3, LeftAlone: true},
		},
		"one hoist opened before the marker and recorded is updated and marked": {
			script: []exchange{
				with(list, "mr-unmarked-list.json"),
				{method: "PUT", path: project + "/3",
					body:   `{"title":"Update 1 image reference (apps/prod), again","description":"- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.2.0\n\n<!-- hoist: automation apps/prod -->","add_labels":"images"}`,
					status: 200, file: "mr-updated.json"},
			},
			req:  owned(nextRequest, 3),
			want: pullrequest.PR{URL: "https://gitlab.example.com/group/sub/fleet/-/merge_requests/3", Number: 3},
		},
		"open one is up to date": {
			script: []exchange{with(list, "mr-open-list.json")},
			req: pullrequest.Request{Head: "hoist/prod", Base: "main", Title: firstRequest.Title, Body: firstRequest.Body, Marker: testMarker,
				Labels: []string{"reviewed"}},
			want: pullrequest.PR{URL: "https://gitlab.example.com/group/sub/fleet/-/merge_requests/3", Number: 3},
		},
		"forbidden": {
			script:  []exchange{{method: list.method, path: list.path, query: list.query, status: 403, file: "forbidden.json"}},
			req:     firstRequest,
			wantErr: "403",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := newReplayServer(t, "gitlab", func(r *http.Request) bool {
				return r.Header.Get("Private-Token") == testToken
			}, tc.script)
			p, err := pullrequest.New(pullrequest.Options{
				RepoURL: "https://gitlab.example.com/group/sub/fleet.git",
				Kind:    pullrequest.GitLab,
				APIURL:  srv.URL,
				Token:   testToken,
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.EnsurePullRequest(context.Background(), tc.req)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), testToken) {
					t.Errorf("error shows the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("EnsurePullRequest: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
