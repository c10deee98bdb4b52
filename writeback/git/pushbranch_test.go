package git_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback"
	"github.com/hoist-dev/hoist/writeback/git"
)

const pushBranch = "hoist/prod"

func pushBranchOptions(waits *[]time.Duration) git.UpdateOptions {
	o := updateOptions(waits)
	o.Push.Branch = pushBranch
	return o
}

func TestUpdatePushBranch(t *testing.T) {
	f := newFixture(t)
	opts := f.syncOptions(t)
	co := mustSync(t, opts)
	var waits []time.Duration
	ctx := context.Background()

	// First run: the push branch is created from main; main is untouched.
	out, err := co.Update(ctx, setImage(newImage), pushBranchOptions(&waits))
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	first := testenv.GitHead(t, f.bare, pushBranch)
	want := git.Outcome{Commit: first, Branch: pushBranch, Pushed: true, Attempts: 1, Changes: []writeback.Change{imageChange(oldImage, newImage)}}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("outcome (-want +got):\n%s", diff)
	}
	if got := testenv.GitHead(t, f.bare, "main"); got != f.base {
		t.Errorf("main moved to %s", got)
	}
	if got := show(t, f.bare, pushBranch, manifest); got != manifestWith(newImage) {
		t.Errorf("push branch manifest:\n%s", got)
	}
	if parent := strings.TrimSpace(testenv.GitCLI(t, f.bare, "rev-parse", pushBranch+"^")); parent != f.base {
		t.Errorf("push branch parent = %s, want main %s", parent, f.base)
	}
	assertClean(t, co)
	if co.Head() != f.base {
		t.Errorf("Head() = %s, want main %s", co.Head(), f.base)
	}

	// Second run, nothing new: the push branch stays as it is.
	if err := co.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	out, err = co.Update(ctx, setImage(newImage), pushBranchOptions(&waits))
	if err != nil {
		t.Fatalf("second Update: %v", err)
	}
	want = git.Outcome{Commit: first, Branch: pushBranch, Attempts: 1, NothingToDo: true, Changes: []writeback.Change{imageChange(oldImage, newImage)}}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("second outcome (-want +got):\n%s", diff)
	}
	if got := testenv.GitHead(t, f.bare, pushBranch); got != first {
		t.Errorf("push branch rewritten to %s on a no-op run", got)
	}

	// main moves on: the push branch is rebuilt on the new main, with a
	// force push leased on hoist's previous commit.
	next := testenv.GitCommitFiles(t, f.bare, "main", "A person's change", map[string]string{"README.md": "# v2\n"})
	if err := co.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	out, err = co.Update(ctx, setImage(newImage), pushBranchOptions(&waits))
	if err != nil {
		t.Fatalf("third Update: %v", err)
	}
	second := testenv.GitHead(t, f.bare, pushBranch)
	if !out.Pushed || out.Commit != second || second == first {
		t.Errorf("outcome = %+v, push branch %s (was %s)", out, second, first)
	}
	if parent := strings.TrimSpace(testenv.GitCLI(t, f.bare, "rev-parse", pushBranch+"^")); parent != next {
		t.Errorf("push branch parent = %s, want the new main %s", parent, next)
	}

	// A person adds a commit on the push branch: hoist refuses to
	// overwrite it, and the person's commit stays.
	theirs := testenv.GitCommitFiles(t, f.bare, pushBranch, "Fix up the PR", map[string]string{"NOTES.md": "mine\n"})
	testenv.GitCommitFiles(t, f.bare, "main", "More", map[string]string{"README.md": "# v3\n"})
	if err := co.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = co.Update(ctx, setImage(newImage), pushBranchOptions(&waits))
	if !errors.Is(err, git.ErrBranchNotOwned) {
		t.Fatalf("Update over a person's commit: err = %v, want ErrBranchNotOwned", err)
	}
	if got := testenv.GitHead(t, f.bare, pushBranch); got != theirs {
		t.Errorf("push branch = %s, want the person's commit %s", got, theirs)
	}
	assertClean(t, co)
}

// TestUpdatePushBranchLease checks the lease: a fresh cache (no record of
// what was pushed) still recognizes hoist's own commit by its committer, and
// an explicit lease that does not match is refused.
func TestUpdatePushBranchLease(t *testing.T) {
	f := newFixture(t)
	var waits []time.Duration
	ctx := context.Background()
	co := mustSync(t, f.syncOptions(t))
	out, err := co.Update(ctx, setImage(newImage), pushBranchOptions(&waits))
	if err != nil {
		t.Fatal(err)
	}
	co.Close()
	testenv.GitCommitFiles(t, f.bare, "main", "A person's change", map[string]string{"README.md": "# v2\n"})

	t.Run("fresh cache", func(t *testing.T) {
		co := mustSync(t, f.syncOptions(t)) // a new cache directory
		got, err := co.Update(ctx, setImage(newImage), pushBranchOptions(&waits))
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if !got.Pushed || got.Commit == out.Commit {
			t.Errorf("outcome = %+v", got)
		}
	})
	t.Run("stale lease from a person", func(t *testing.T) {
		// Someone else, with another identity, replaces the branch.
		theirs := testenv.GitCommitFiles(t, f.bare, pushBranch, "Replace", map[string]string{"x": "y"})
		testenv.GitCommitFiles(t, f.bare, "main", "More", map[string]string{"README.md": "# v3\n"})
		co := mustSync(t, f.syncOptions(t))
		opts := pushBranchOptions(&waits)
		opts.Push.Lease = out.Commit
		_, err := co.Update(ctx, setImage(newImage), opts)
		if !errors.Is(err, git.ErrBranchNotOwned) {
			t.Fatalf("err = %v, want ErrBranchNotOwned", err)
		}
		if got := testenv.GitHead(t, f.bare, pushBranch); got != theirs {
			t.Errorf("push branch = %s, want %s", got, theirs)
		}
	})
}

// TestUpdatePushBranchRace has another hoist replace the push branch after
// hoist read the branch's head and before its pack arrives: the remote
// refuses the stale update, and hoist re-plans.
func TestUpdatePushBranchRace(t *testing.T) {
	f := newFixture(t)
	var waits []time.Duration
	ctx := context.Background()
	co := mustSync(t, f.syncOptions(t))
	if _, err := co.Update(ctx, setImage(newImage), pushBranchOptions(&waits)); err != nil {
		t.Fatal(err)
	}
	testenv.GitCommitFiles(t, f.bare, "main", "A person's change", map[string]string{"README.md": "# v2\n"})
	if err := co.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	other := mustSync(t, f.syncOptions(t))
	var injected atomic.Bool
	f.srv.SetMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if testenv.IsGitPush(r) && injected.CompareAndSwap(false, true) {
				o := pushBranchOptions(&waits)
				o.Commit.Now = func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }
				if _, err := other.Update(ctx, setImage("ghcr.io/stefanprodan/podinfo:6.2.0"), o); err != nil {
					t.Errorf("other hoist: %v", err)
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	out, err := co.Update(ctx, setImage(newImage), pushBranchOptions(&waits))
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if out.Attempts != 2 || !out.Pushed {
		t.Errorf("outcome = %+v, want pushed on attempt 2", out)
	}
	if got := show(t, f.bare, pushBranch, manifest); got != manifestWith(newImage) {
		t.Errorf("push branch manifest:\n%s", got)
	}
	fsck(t, f.bare)
}
