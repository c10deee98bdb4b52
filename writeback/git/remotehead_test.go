package git_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback/git"
)

// TestRemoteHead lists a real Git server's branches (git http-backend,
// with basic auth) without a cache: the branch's commit, or why not.
func TestRemoteHead(t *testing.T) {
	srv := testenv.NewGitServer(t, testenv.GitServerOptions{Username: "hoist", Password: "s3cret-pass"})
	bare := srv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	head := testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{"deploy/app.yaml": "image: app:1.0.0\n"})
	empty := srv.RepoDir("empty.git")
	testenv.GitInitBare(t, empty, "main")
	creds := git.Auth{Username: "hoist", Password: "s3cret-pass"}
	tests := map[string]struct {
		opts   git.SyncOptions
		want   string
		is     error
		errHas string // the error names this
		errNot string // and never this
	}{
		"the branch": {
			opts: git.SyncOptions{URL: srv.RepoURL("fleet.git"), Branch: "main", Auth: creds},
			want: head,
		},
		"credentials in the URL": {
			opts: git.SyncOptions{URL: strings.Replace(srv.RepoURL("fleet.git"), "://", "://hoist:s3cret-pass@", 1), Branch: "main"},
			want: head,
		},
		"no such branch": {
			opts:   git.SyncOptions{URL: srv.RepoURL("fleet.git"), Branch: "release", Auth: creds},
			is:     git.ErrBranchNotFound,
			errHas: `"release"`,
		},
		"an empty repository": {
			opts: git.SyncOptions{URL: srv.RepoURL("empty.git"), Branch: "main", Auth: creds},
			is:   git.ErrBranchNotFound,
		},
		"a wrong password": {
			opts:   git.SyncOptions{URL: strings.Replace(srv.RepoURL("fleet.git"), "://", "://hoist:wrong-pass@", 1), Branch: "main"},
			errHas: "listing " + srv.RepoURL("fleet.git"),
			errNot: "wrong-pass",
		},
		"no branch named": {
			opts:   git.SyncOptions{URL: srv.RepoURL("fleet.git"), Auth: creds},
			is:     git.ErrInvalidOptions,
			errHas: "branch",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := git.RemoteHead(t.Context(), tc.opts)
			if tc.is == nil && tc.errHas == "" {
				if err != nil || got != tc.want {
					t.Fatalf("RemoteHead = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("RemoteHead = %q, want an error", got)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.errHas) || tc.errNot != "" && strings.Contains(err.Error(), tc.errNot) {
				t.Errorf("error %q: want it to name %q and not %q", err, tc.errHas, tc.errNot)
			}
		})
	}
}
