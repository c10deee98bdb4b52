package pullrequest

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/writeback/git"
)

func TestNew(t *testing.T) {
	tests := map[string]struct {
		opts Options
		// want is "kind apiURL path" of the provider.
		want string
	}{
		"github.com over https": {
			opts: Options{RepoURL: "https://github.com/acme/fleet.git", Token: "t"},
			want: "github https://api.github.com/ acme/fleet",
		},
		"github.com over scp-like ssh": {
			opts: Options{RepoURL: "git@github.com:acme/fleet.git", Token: "t"},
			want: "github https://api.github.com/ acme/fleet",
		},
		"GitHub Enterprise": {
			opts: Options{RepoURL: "ssh://git@ghe.example.com:2222/acme/fleet.git", Kind: GitHub, Token: "t"},
			want: "github https://ghe.example.com/api/v3/ acme/fleet",
		},
		"gitlab.com with subgroups": {
			opts: Options{RepoURL: "https://gitlab.com/group/sub/fleet.git", Token: "t"},
			want: "gitlab https://gitlab.com/api/v4/ group/sub/fleet",
		},
		"self-hosted GitLab under a path": {
			opts: Options{RepoURL: "https://example.com/gitlab/group/fleet.git", Kind: GitLab, APIURL: "https://example.com/gitlab/api/v4", Token: "t"},
			want: "gitlab https://example.com/gitlab/api/v4 group/fleet",
		},
		"Gitea over http": {
			opts: Options{RepoURL: "http://127.0.0.1:3000/hoist/fleet.git", Kind: Gitea, Token: "t"},
			want: "gitea http://127.0.0.1:3000 hoist/fleet",
		},
		"Gitea under a path": {
			opts: Options{RepoURL: "https://example.com/git/hoist/fleet.git", Kind: Gitea, APIURL: "https://example.com/git/", Token: "t"},
			want: "gitea https://example.com/git hoist/fleet",
		},
	}
	for name, tc := range tests {
		// The remote parsed by the caller (Options.Remote) makes the
		// same provider as its URL.
		remote, err := git.ParseRemoteURL(tc.opts.RepoURL)
		if err != nil {
			t.Fatal(err)
		}
		parsed := tc.opts
		parsed.RepoURL, parsed.Remote = "", remote
		for variant, opts := range map[string]Options{"RepoURL": tc.opts, "Remote": parsed} {
			t.Run(name+"/"+variant, func(t *testing.T) {
				p, err := New(opts)
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				var got string
				switch p := p.(type) {
				case *gitHub:
					got = "github " + p.client.BaseURL.String() + " " + p.owner + "/" + p.name
				case *gitLab:
					got = "gitlab " + tc.opts.APIURL + " " + p.project
					if tc.opts.APIURL == "" {
						got = "gitlab " + p.client.BaseURL().String() + " " + p.project
					}
				case *giteaProvider:
					got = "gitea " + p.apiURL + " " + p.owner + "/" + p.name
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := map[string]struct {
		opts Options
		is   error
	}{
		"unknown host":         {opts: Options{RepoURL: "https://git.example.com/a/b.git", Token: "t"}, is: ErrUnknownForge},
		"no token":             {opts: Options{RepoURL: "https://github.com/a/b.git"}, is: ErrInvalidOptions},
		"no repository":        {opts: Options{RepoURL: "https://github.com/a", Token: "t"}, is: ErrInvalidOptions},
		"nested on GitHub":     {opts: Options{RepoURL: "https://github.com/a/b/c", Token: "t"}, is: ErrInvalidOptions},
		"unknown kind":         {opts: Options{RepoURL: "https://x.example.com/a/b", Kind: "bitbucket", Token: "t"}, is: ErrInvalidOptions},
		"not a URL":            {opts: Options{RepoURL: "::", Token: "t"}},
		"empty path segment":   {opts: Options{RepoURL: "https://github.com/a//b", Token: "t"}, is: ErrInvalidOptions},
		"API URL with a token": {opts: Options{RepoURL: "https://ghe.example.com/a/b", Kind: GitHub, APIURL: "https://ghp_apiURLsecret42@ghe.example.com/api/v3", Token: "t"}, is: ErrInvalidOptions},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.opts)
			if err == nil {
				t.Fatal("New succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if strings.Contains(err.Error(), "apiURLsecret") {
				t.Errorf("the error shows the API URL's token: %v", err)
			}
		})
	}
}

func TestRequestValidate(t *testing.T) {
	for name, r := range map[string]Request{
		"no head":  {Base: "main", Title: "t"},
		"same":     {Head: "main", Base: "main", Title: "t"},
		"no title": {Head: "h", Base: "main", Title: " "},
	} {
		if err := r.Validate(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidOptions", name, err)
		}
	}
}

func TestMissing(t *testing.T) {
	got := missing([]string{"a", "b", "a", "", "c"}, []string{"b"})
	if diff := cmp.Diff([]string{"a", "c"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
