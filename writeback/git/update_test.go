package git_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback"
	"github.com/hoist-dev/hoist/writeback/git"
)

const (
	oldImage = "ghcr.io/stefanprodan/podinfo:6.0.0"
	newImage = "ghcr.io/stefanprodan/podinfo:6.1.0"
)

// recordSleep is an UpdateOptions.Sleep that records the waits.
func recordSleep(waits *[]time.Duration) func(context.Context, time.Duration) error {
	return func(_ context.Context, d time.Duration) error {
		*waits = append(*waits, d)
		return nil
	}
}

func updateOptions(waits *[]time.Duration) git.UpdateOptions {
	return git.UpdateOptions{Commit: commitOptions(), Sleep: recordSleep(waits)}
}

// assertClean fails when the checkout's worktree has changes or its local
// branch is not at Head.
func assertClean(t *testing.T, co *git.Checkout) {
	t.Helper()
	if out := testenv.GitCLI(t, co.Dir(), "status", "--porcelain", "--untracked-files=all"); out != "" {
		t.Errorf("worktree not clean:\n%s", out)
	}
	if got := strings.TrimSpace(testenv.GitCLI(t, co.Dir(), "rev-parse", "HEAD")); got != co.Head() {
		t.Errorf("local HEAD = %s, want Head() %s", got, co.Head())
	}
}

func TestUpdatePushesToCheckoutBranch(t *testing.T) {
	f := newFixture(t)
	co := mustSync(t, f.syncOptions(t))
	var waits []time.Duration

	out, err := co.Update(context.Background(), setImage(newImage), updateOptions(&waits))
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	head := testenv.GitHead(t, f.bare, "main")
	want := git.Outcome{Commit: head, Branch: "main", Pushed: true, Attempts: 1, Changes: []writeback.Change{imageChange(oldImage, newImage)}}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("outcome (-want +got):\n%s", diff)
	}
	if got := show(t, f.bare, "main", manifest); got != manifestWith(newImage) {
		t.Errorf("remote manifest:\n%s", got)
	}
	if parent := strings.TrimSpace(testenv.GitCLI(t, f.bare, "rev-parse", "main^")); parent != f.base {
		t.Errorf("parent = %s, want %s", parent, f.base)
	}
	msg := testenv.GitCLI(t, f.bare, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%aI%n%B", "main")
	wantMsg := "hoist <hoist@example.com>|hoist <hoist@example.com>|2025-01-02T03:04:06+00:00\n" +
		"Update 1 image reference (apps/prod)\n\n" +
		"- " + oldImage + " → " + newImage + " in apps/podinfo.yaml:11 (Deployment apps/podinfo)\n\n"
	if diff := cmp.Diff(wantMsg, msg); diff != "" {
		t.Errorf("commit (-want +got):\n%s", diff)
	}
	if co.Head() != head {
		t.Errorf("Head() = %s, want the pushed commit %s", co.Head(), head)
	}
	assertClean(t, co)
	fsck(t, f.bare)

	// Nothing new: no commit, no push.
	out, err = co.Update(context.Background(), setImage(newImage), updateOptions(&waits))
	if err != nil {
		t.Fatalf("second Update: %v", err)
	}
	if diff := cmp.Diff(git.Outcome{Branch: "main", Attempts: 1, NothingToDo: true}, out); diff != "" {
		t.Errorf("second outcome (-want +got):\n%s", diff)
	}
	if got := testenv.GitHead(t, f.bare, "main"); got != head {
		t.Errorf("remote moved to %s on a no-op run", got)
	}
	if len(waits) != 0 {
		t.Errorf("waited %v without a race", waits)
	}
}

func TestUpdateFullHistoryClone(t *testing.T) {
	f := newFixture(t)
	opts := f.syncOptions(t)
	opts.FullHistory = true
	co := mustSync(t, opts)
	if out := testenv.GitCLI(t, co.Dir(), "rev-parse", "--is-shallow-repository"); strings.TrimSpace(out) != "false" {
		t.Errorf("FullHistory clone is shallow")
	}
	var waits []time.Duration
	if _, err := co.Update(context.Background(), setImage(newImage), updateOptions(&waits)); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got := show(t, f.bare, "main", manifest); got != manifestWith(newImage) {
		t.Errorf("remote manifest:\n%s", got)
	}
}

// TestUpdateRace has another writer push between hoist's fetch and push.
func TestUpdateRace(t *testing.T) {
	tests := map[string]struct {
		// other is what the other writer commits during hoist's first edit.
		other   map[string]string
		wantOld string // the old value hoist reports after re-planning
	}{
		"other file": {
			other:   map[string]string{"README.md": "# fleet, edited by a person\n"},
			wantOld: oldImage,
		},
		"same line": {
			other:   map[string]string{manifest: manifestWith("ghcr.io/stefanprodan/podinfo:6.0.5")},
			wantOld: "ghcr.io/stefanprodan/podinfo:6.0.5",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			co := mustSync(t, f.syncOptions(t))
			var other string
			calls := 0
			edit := func(ctx context.Context, dir string) ([]writeback.Change, error) {
				calls++
				if calls == 1 {
					other = testenv.GitCommitFiles(t, f.bare, "main", "A person's change", tc.other)
				}
				return setImage(newImage)(ctx, dir)
			}
			var waits []time.Duration
			out, err := co.Update(context.Background(), edit, updateOptions(&waits))
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			if out.Attempts != 2 || !out.Pushed {
				t.Errorf("outcome = %+v, want pushed on attempt 2", out)
			}
			if diff := cmp.Diff([]time.Duration{500 * time.Millisecond}, waits); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			head := testenv.GitHead(t, f.bare, "main")
			if out.Commit != head {
				t.Errorf("outcome commit %s, remote main %s", out.Commit, head)
			}
			// hoist's commit is on top of the other writer's, which is on
			// top of the base: both survive.
			log := testenv.GitCLI(t, f.bare, "log", "--format=%H %an", "main")
			wantLog := head + " hoist\n" + other + " Test Writer\n" + f.base + " Test Writer\n"
			if diff := cmp.Diff(wantLog, log); diff != "" {
				t.Errorf("remote history (-want +got):\n%s", diff)
			}
			for file, content := range tc.other {
				if file == manifest {
					continue
				}
				if got := show(t, f.bare, "main", file); got != content {
					t.Errorf("%s = %q, the other writer's change was lost", file, got)
				}
			}
			if got := show(t, f.bare, "main", manifest); got != manifestWith(newImage) {
				t.Errorf("manifest:\n%s", got)
			}
			if len(out.Changes) != 1 || out.Changes[0].Old != tc.wantOld {
				t.Errorf("changes = %+v, want one from %s", out.Changes, tc.wantOld)
			}
			if msg := testenv.GitCLI(t, f.bare, "log", "-1", "--format=%B", "main"); !strings.Contains(msg, tc.wantOld+" → "+newImage) {
				t.Errorf("message does not describe the re-planned change:\n%s", msg)
			}
			assertClean(t, co)
			fsck(t, f.bare)
		})
	}
}

// TestUpdateRaceAtTheServer has another writer push after hoist read the
// remote's refs for its push and before its pack arrives: the server, not
// the client, refuses the stale update.
func TestUpdateRaceAtTheServer(t *testing.T) {
	f := newFixture(t)
	co := mustSync(t, f.syncOptions(t))
	var other string
	var injected atomic.Bool
	f.srv.SetMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if testenv.IsGitPush(r) && injected.CompareAndSwap(false, true) {
				other = testenv.GitCommitFiles(t, f.bare, "main", "A person's change", map[string]string{"README.md": "# edited\n"})
			}
			next.ServeHTTP(w, r)
		})
	})
	var waits []time.Duration
	out, err := co.Update(context.Background(), setImage(newImage), updateOptions(&waits))
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if out.Attempts != 2 || !out.Pushed {
		t.Errorf("outcome = %+v, want pushed on attempt 2", out)
	}
	head := testenv.GitHead(t, f.bare, "main")
	log := testenv.GitCLI(t, f.bare, "log", "--format=%H", "main")
	if want := head + "\n" + other + "\n" + f.base + "\n"; log != want {
		t.Errorf("remote history:\n%s\nwant:\n%s", log, want)
	}
	assertClean(t, co)
	fsck(t, f.bare)
}

func TestUpdateGivesUpWhenRemoteKeepsMoving(t *testing.T) {
	f := newFixture(t)
	co := mustSync(t, f.syncOptions(t))
	n := 0
	edit := func(ctx context.Context, dir string) ([]writeback.Change, error) {
		n++
		testenv.GitCommitFiles(t, f.bare, "main", "busy", map[string]string{"busy.txt": strings.Repeat("x", n)})
		return setImage(newImage)(ctx, dir)
	}
	var waits []time.Duration
	opts := updateOptions(&waits)
	opts.MaxAttempts = 3
	opts.Backoff = time.Second
	out, err := co.Update(context.Background(), edit, opts)
	if !errors.Is(err, git.ErrTooManyAttempts) || !errors.Is(err, git.ErrRemoteMoved) {
		t.Fatalf("Update error = %v, want ErrTooManyAttempts and ErrRemoteMoved", err)
	}
	if out.Attempts != 3 || out.Pushed {
		t.Errorf("outcome = %+v", out)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second}, waits); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
	if got := show(t, f.bare, "main", manifest); got != manifestWith(oldImage) {
		t.Errorf("remote manifest changed:\n%s", got)
	}
	assertClean(t, co)
}

func TestUpdateFailures(t *testing.T) {
	tests := map[string]struct {
		// before runs after Sync, before Update.
		before func(t *testing.T, f *fixture)
		is     error
		text   string
		// wantMain is the remote main afterwards: "base" or "" (deleted).
		wantMain string
	}{
		"branch deleted": {
			before: func(t *testing.T, f *fixture) {
				testenv.GitCLI(t, f.bare, "update-ref", "-d", "refs/heads/main")
			},
			is:       git.ErrBranchNotFound,
			text:     "deleted",
			wantMain: "",
		},
		"pre-receive hook refuses": {
			before: func(t *testing.T, f *fixture) {
				testenv.GitSetHook(t, f.bare, "pre-receive", "echo 'policy: images need a ticket' >&2\nexit 1")
			},
			is:       git.ErrPushRejected,
			text:     "policy: images need a ticket",
			wantMain: "base",
		},
		"protected branch (update hook)": {
			before: func(t *testing.T, f *fixture) {
				testenv.GitSetHook(t, f.bare, "update", "echo \"$1 is protected\" >&2\nexit 1")
			},
			is:       git.ErrPushRejected,
			text:     "refs/heads/main is protected",
			wantMain: "base",
		},
		"edit fails": {
			before:   func(*testing.T, *fixture) {},
			text:     "editing files: boom",
			wantMain: "base",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			co := mustSync(t, f.syncOptions(t))
			tc.before(t, f)
			edit := setImage(newImage)
			if name == "edit fails" {
				edit = func(ctx context.Context, dir string) ([]writeback.Change, error) {
					if _, err := setImage(newImage)(ctx, dir); err != nil {
						return nil, err
					}
					return nil, errors.New("boom")
				}
			}
			var waits []time.Duration
			out, err := co.Update(context.Background(), edit, updateOptions(&waits))
			if err == nil {
				t.Fatalf("Update succeeded: %+v", out)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not mention %q", err, tc.text)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error shows the password: %v", err)
			}
			if out.Pushed || out.Attempts != 1 || len(waits) != 0 {
				t.Errorf("outcome = %+v, waits %v", out, waits)
			}
			want := ""
			if tc.wantMain == "base" {
				want = f.base
			}
			if got := testenv.GitHead(t, f.bare, "main"); got != want {
				t.Errorf("remote main = %q, want %q", got, want)
			}
			assertClean(t, co)
			fsck(t, f.bare)
		})
	}
}

// TestUpdateNetworkCut closes the connection in the middle of the push.
func TestUpdateNetworkCut(t *testing.T) {
	f := newFixture(t)
	u, _ := strings.CutPrefix(f.srv.URL, "http://")
	proxy := testenv.NewGitProxy(t, u)
	opts := f.syncOptions(t)
	opts.URL = proxy.ProxyURL(t, f.url)
	co := mustSync(t, opts)

	// A large incompressible file makes the push pack big enough to be cut
	// in the middle.
	big := make([]byte, 512<<10)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	edit := func(ctx context.Context, dir string) ([]writeback.Change, error) {
		if err := os.WriteFile(filepath.Join(dir, "apps", "blob.bin"), big, 0o644); err != nil {
			return nil, err
		}
		changes, err := setImage(newImage)(ctx, dir)
		return append(changes, writeback.Change{File: "apps/blob.bin", New: "blob"}), err
	}
	proxy.CutAfter(64 << 10)
	var waits []time.Duration
	_, err := co.Update(context.Background(), edit, updateOptions(&waits))
	if err == nil {
		t.Fatal("Update succeeded through a cut connection")
	}
	if proxy.Cuts() == 0 {
		t.Fatal("the proxy cut nothing")
	}
	t.Logf("error: %v", err)
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("error shows the password: %v", err)
	}
	if got := testenv.GitHead(t, f.bare, "main"); got != f.base {
		t.Errorf("remote main = %s, want the base %s", got, f.base)
	}
	fsck(t, f.bare)
	assertClean(t, co)

	// The network is back: the next run succeeds from the same cache.
	proxy.CutAfter(0)
	out, err := co.Update(context.Background(), edit, updateOptions(&waits))
	if err != nil {
		t.Fatalf("Update after the network came back: %v", err)
	}
	if got := testenv.GitHead(t, f.bare, "main"); got != out.Commit {
		t.Errorf("remote main = %s, want %s", got, out.Commit)
	}
	fsck(t, f.bare)
}

// TestUpdatePushAnswerLost has the server take the push and then drop the
// connection before answering: hoist finds its commit on the remote.
func TestUpdatePushAnswerLost(t *testing.T) {
	f := newFixture(t)
	co := mustSync(t, f.syncOptions(t))
	f.srv.SetMiddleware(testenv.GitDropResponse(testenv.IsGitPush))
	var waits []time.Duration
	out, err := co.Update(context.Background(), setImage(newImage), updateOptions(&waits))
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	head := testenv.GitHead(t, f.bare, "main")
	if !out.Pushed || out.Commit != head || out.Attempts != 1 {
		t.Errorf("outcome = %+v, remote main %s", out, head)
	}
	assertClean(t, co)
	fsck(t, f.bare)
}

func TestCommitRefusesCredentialInMessage(t *testing.T) {
	f := newFixture(t)
	co := mustSync(t, f.syncOptions(t))
	if _, err := setImage(newImage)(context.Background(), co.Dir()); err != nil {
		t.Fatal(err)
	}
	opts := commitOptions()
	opts.MessageTemplate = "Update by {{ .Values.who }}"
	opts.Values = map[string]string{"who": "bot " + testPassword}
	_, err := co.Commit(context.Background(), nil, opts)
	if !errors.Is(err, git.ErrCredentialInMessage) {
		t.Fatalf("Commit: err = %v, want ErrCredentialInMessage", err)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("error shows the password: %v", err)
	}
	if err := co.Reset(); err != nil {
		t.Fatal(err)
	}
	assertClean(t, co)
}

func TestCommitNothingToCommit(t *testing.T) {
	f := newFixture(t)
	co := mustSync(t, f.syncOptions(t))
	ctx := context.Background()
	if _, err := co.Commit(ctx, nil, commitOptions()); !errors.Is(err, git.ErrNothingToCommit) {
		t.Errorf("Commit on a clean tree: err = %v, want ErrNothingToCommit", err)
	}
	// A file rewritten with the same bytes is no change either.
	p := filepath.Join(co.Dir(), manifest)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+".tmp", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
	if _, err := co.Commit(ctx, nil, commitOptions()); !errors.Is(err, git.ErrNothingToCommit) {
		t.Errorf("Commit after rewriting a file unchanged: err = %v, want ErrNothingToCommit", err)
	}
	// New and deleted files are staged.
	if err := os.Remove(filepath.Join(co.Dir(), "README.md")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(co.Dir(), "apps", "new.yaml"), []byte("x: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sha, err := co.Commit(ctx, nil, commitOptions())
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	files := testenv.GitCLI(t, co.Dir(), "show", "--name-status", "--format=", sha)
	if want := "D\tREADME.md\nA\tapps/new.yaml\n"; files != want {
		t.Errorf("commit files:\n%s\nwant:\n%s", files, want)
	}
}
