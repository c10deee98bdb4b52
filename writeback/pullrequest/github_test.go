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

const (
	testToken  = "ghp_s3cretTokenValue"
	testMarker = "<!-- hoist: automation apps/prod -->"
)

var (
	firstRequest = pullrequest.Request{
		Head: "hoist/prod", Base: "main",
		Title:  "Update 1 image reference (apps/prod)",
		Body:   "- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.1.0",
		Labels: []string{"automation", "images"},
		Marker: testMarker,
	}
	nextRequest = pullrequest.Request{
		Head: "hoist/prod", Base: "main",
		Title:  "Update 1 image reference (apps/prod), again",
		Body:   "- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.2.0",
		Labels: []string{"automation", "images"},
		Marker: testMarker,
	}
)

// owned returns req with Owned set to numbers.
func owned(req pullrequest.Request, numbers ...int64) pullrequest.Request {
	req.Owned = numbers
	return req
}

func TestGitHub(t *testing.T) {
	list := exchange{
		method: "GET", path: "/api/v3/repos/acme/fleet/pulls",
		query:  url.Values{"state": {"open"}, "head": {"acme:hoist/prod"}, "base": {"main"}, "per_page": {"100"}},
		status: 200,
	}
	with := func(e exchange, file string) exchange { e.file = file; return e }
	tests := map[string]struct {
		script  []exchange
		req     pullrequest.Request
		want    pullrequest.PR
		wantErr string
	}{
		"open a new one": {
			script: []exchange{
				with(list, "empty-list.json"),
				{method: "POST", path: "/api/v3/repos/acme/fleet/pulls",
					body:   `{"title":"Update 1 image reference (apps/prod)","head":"hoist/prod","base":"main","body":"- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.1.0\n\n<!-- hoist: automation apps/prod -->"}`,
					status: 201, file: "pr-created.json"},
				{method: "POST", path: "/api/v3/repos/acme/fleet/issues/7/labels",
					body: `["automation","images"]`, status: 200, file: "labels.json"},
			},
			req:  firstRequest,
			want: pullrequest.PR{URL: "https://github.com/acme/fleet/pull/7", Number: 7, Created: true},
		},
		"update the open one": {
			script: []exchange{
				with(list, "pr-open-list.json"),
				{method: "PATCH", path: "/api/v3/repos/acme/fleet/pulls/7",
					body:   `{"title":"Update 1 image reference (apps/prod), again","body":"- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.2.0\n\n<!-- hoist: automation apps/prod -->"}`,
					status: 200, file: "pr-updated.json"},
				// Only the missing label; "reviewed", a person's, stays.
				{method: "POST", path: "/api/v3/repos/acme/fleet/issues/7/labels",
					body: `["images"]`, status: 200, file: "labels.json"},
			},
			req:  nextRequest,
			want: pullrequest.PR{URL: "https://github.com/acme/fleet/pull/7", Number: 7},
		},
		"a person's open one is left as it is": {
			script: []exchange{with(list, "pr-person-list.json")},
			req:    nextRequest,
			want:   pullrequest.PR{URL: "https://github.com/acme/fleet/pull/7", Number: 7, LeftAlone: true},
		},
		"one hoist opened before the marker, not recorded, is left as it is": {
			script: []exchange{with(list, "pr-unmarked-list.json")},
			req:    nextRequest,
			want:   pullrequest.PR{URL: "https://github.com/acme/fleet/pull/7", Number: 7, LeftAlone: true},
		},
		"one hoist opened before the marker and recorded is updated and marked": {
			script: []exchange{
				with(list, "pr-unmarked-list.json"),
				{method: "PATCH", path: "/api/v3/repos/acme/fleet/pulls/7",
					body:   `{"title":"Update 1 image reference (apps/prod), again","body":"- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.2.0\n\n<!-- hoist: automation apps/prod -->"}`,
					status: 200, file: "pr-updated.json"},
				{method: "POST", path: "/api/v3/repos/acme/fleet/issues/7/labels",
					body: `["images"]`, status: 200, file: "labels.json"},
			},
			req:  owned(nextRequest, 7),
			want: pullrequest.PR{URL: "https://github.com/acme/fleet/pull/7", Number: 7},
		},
		"open one is up to date": {
			script: []exchange{with(list, "pr-open-list.json")},
			req: pullrequest.Request{Head: "hoist/prod", Base: "main", Title: firstRequest.Title, Body: firstRequest.Body, Marker: testMarker,
				Labels: []string{"automation"}},
			want: pullrequest.PR{URL: "https://github.com/acme/fleet/pull/7", Number: 7},
		},
		"bad credentials": {
			script:  []exchange{{method: list.method, path: list.path, query: list.query, status: 401, file: "bad-credentials.json"}},
			req:     firstRequest,
			wantErr: "401 Bad credentials",
		},
		"nothing to merge": {
			script: []exchange{
				with(list, "empty-list.json"),
				{method: "POST", path: "/api/v3/repos/acme/fleet/pulls",
					body:   `{"title":"Update 1 image reference (apps/prod)","head":"hoist/prod","base":"main","body":"- ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.1.0\n\n<!-- hoist: automation apps/prod -->"}`,
					status: 422, file: "validation-failed.json"},
			},
			req:     firstRequest,
			wantErr: "No commits between main and hoist/prod",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := newReplayServer(t, "github", func(r *http.Request) bool {
				return r.Header.Get("Authorization") == "Bearer "+testToken
			}, tc.script)
			p, err := pullrequest.New(pullrequest.Options{
				RepoURL: "git@github.example.com:acme/fleet.git",
				Kind:    pullrequest.GitHub,
				APIURL:  srv.URL + "/api/v3/",
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
