package git_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback/git"
)

// TestPushRefspec pushes with Flux's push.refspec: alone it is the only
// push (Gerrit's HEAD:refs/for/main), beside a push branch it is pushed
// as well; a branch destination is treated as a push branch is.
func TestPushRefspec(t *testing.T) {
	tests := map[string]struct {
		push git.PushOptions
		// refs of the remote that must hold hoist's commit, and those that
		// must not move
		want, unmoved []string
	}{
		"alone, to a review ref": {
			push:    git.PushOptions{Refspec: "HEAD:refs/for/main"},
			want:    []string{"refs/for/main"},
			unmoved: []string{"refs/heads/main"},
		},
		"alone, to a branch": {
			push:    git.PushOptions{Refspec: "main:hoist/auto"},
			want:    []string{"refs/heads/hoist/auto"},
			unmoved: []string{"refs/heads/main"},
		},
		"alone, to the checkout branch": {
			push: git.PushOptions{Refspec: "@:refs/heads/main"},
			want: []string{"refs/heads/main"},
		},
		"beside a push branch": {
			push:    git.PushOptions{Branch: "hoist/prod", Refspec: "hoist/prod:refs/heads/hoist/mirror"},
			want:    []string{"refs/heads/hoist/prod", "refs/heads/hoist/mirror"},
			unmoved: []string{"refs/heads/main"},
		},
		"beside the checkout branch": {
			push: git.PushOptions{Branch: "main", Refspec: "HEAD:refs/for/main"},
			want: []string{"refs/heads/main", "refs/for/main"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			opts := f.syncOptions(t)
			co := mustSync(t, opts)
			out, err := co.Update(context.Background(), setImage(newImage), git.UpdateOptions{Commit: commitOptions(), Push: tc.push})
			co.Close()
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			if !out.Pushed {
				t.Fatalf("outcome %+v, want a push", out)
			}
			for _, ref := range tc.want {
				if got := strings.TrimSpace(testenv.GitCLI(t, f.bare, "rev-parse", ref)); got != out.Commit {
					t.Errorf("%s = %s, want hoist's commit %s", ref, got, out.Commit)
				}
			}
			for _, ref := range tc.unmoved {
				if got := strings.TrimSpace(testenv.GitCLI(t, f.bare, "rev-parse", ref)); got != f.base {
					t.Errorf("%s = %s, want it unmoved at %s", ref, got, f.base)
				}
			}
			// The same change again is not pushed again, even where the
			// remote cannot be listed (a review ref).
			before := map[string]string{}
			for _, ref := range tc.want {
				before[ref] = strings.TrimSpace(testenv.GitCLI(t, f.bare, "rev-parse", ref))
			}
			if ref := tc.want[0]; ref != "refs/heads/main" {
				co2 := mustSync(t, opts)
				again, err := co2.Update(context.Background(), setImage(newImage), git.UpdateOptions{Commit: commitOptions(), Push: tc.push})
				if err != nil || !again.NothingToDo {
					t.Errorf("the same change again: %+v, %v; want nothing to do", again, err)
				}
				for ref, h := range before {
					if got := strings.TrimSpace(testenv.GitCLI(t, f.bare, "rev-parse", ref)); got != h {
						t.Errorf("%s moved from %s to %s on the same change", ref, h, got)
					}
				}
			}
			fsck(t, f.bare)
		})
	}
}

func TestPushRefspecRefused(t *testing.T) {
	for _, refspec := range []string{
		"+HEAD:refs/heads/main",  // force
		"HEAD",                   // no destination
		"HEAD:",                  // deletes
		"feature:refs/for/main",  // another commit
		"HEAD:refs/heads/bad..x", // not a ref name
	} {
		t.Run(refspec, func(t *testing.T) {
			f := newFixture(t)
			co := mustSync(t, f.syncOptions(t))
			_, err := co.Update(context.Background(), setImage(newImage), git.UpdateOptions{Commit: commitOptions(), Push: git.PushOptions{Refspec: refspec}})
			if !errors.Is(err, git.ErrInvalidOptions) || !strings.Contains(err.Error(), refspec) {
				t.Fatalf("Update with refspec %q: %v, want ErrInvalidOptions naming it", refspec, err)
			}
			if got := testenv.GitHead(t, f.bare, "main"); got != f.base {
				t.Errorf("main moved to %s", got)
			}
		})
	}
}

// TestPushOptions sends push options (git push -o) to a server that
// advertises them; a pre-receive hook records what it got.
func TestPushOptions(t *testing.T) {
	f := newFixture(t)
	testenv.GitCLI(t, f.bare, "config", "receive.advertisePushOptions", "true")
	got := filepath.Join(t.TempDir(), "options")
	testenv.GitSetHook(t, f.bare, "pre-receive", `i=0
while [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do
  eval "echo \"\$GIT_PUSH_OPTION_$i\"" >> `+got+`
  i=$((i+1))
done`)
	co := mustSync(t, f.syncOptions(t))
	push := git.PushOptions{Options: map[string]string{"ci.skip": "", "merge_request.target": "main"}}
	if _, err := co.Update(context.Background(), setImage(newImage), git.UpdateOptions{Commit: commitOptions(), Push: push}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatalf("the hook saw no push options: %v", err)
	}
	lines := strings.Fields(string(b))
	if len(lines) != 2 || !strings.Contains(string(b), "ci.skip") || !strings.Contains(string(b), "merge_request.target=main") {
		t.Errorf("push options seen by the server: %q", lines)
	}
}
