package git_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback"
	"github.com/hoist-dev/hoist/writeback/git"
)

// These tests cover the clean mark: a Sync after a run that left the
// worktree untouched does not walk it, and everything else still does.
// They find the cache directory on disk instead of calling Dir, which would
// make the checkout distrust the mark.

// cacheDir is the one clone under opts.CacheDir.
func cacheDir(t *testing.T, opts git.SyncOptions) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(opts.CacheDir, "*", ".git"))
	if err != nil || len(m) != 1 {
		t.Fatalf("clones under %s: %v %v", opts.CacheDir, m, err)
	}
	return filepath.Dir(m[0])
}

func readAt(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(file)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// run is one run of hoist against the cache: Sync, Update, Close.
func run(t *testing.T, opts git.SyncOptions, edit git.EditFunc) git.Outcome {
	t.Helper()
	co, err := git.Sync(context.Background(), opts)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	defer co.Close()
	out, err := co.Update(context.Background(), edit, git.UpdateOptions{Commit: commitOptions()})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	return out
}

func nothing(context.Context, string) ([]writeback.Change, error) { return nil, nil }

func TestCleanMarkSkipsOnlyUntouchedWorktrees(t *testing.T) {
	f := newFixture(t)
	opts := f.syncOptions(t)

	// A run with nothing to do leaves the mark.
	if out := run(t, opts, nothing); !out.NothingToDo {
		t.Fatalf("outcome %+v, want nothing to do", out)
	}
	dir := cacheDir(t, opts)
	mark := filepath.Join(dir, ".git", "hoist-clean")
	if b, err := os.ReadFile(mark); err != nil || strings.TrimSpace(string(b)) != f.base {
		t.Fatalf("clean mark = %q, %v; want %s", b, err, f.base)
	}

	// The edit runs without the mark, so a crash in it leaves none.
	out := run(t, opts, func(ctx context.Context, d string) ([]writeback.Change, error) {
		if _, err := os.Stat(mark); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the clean mark is there while the worktree is edited: %v", err)
		}
		return nil, nil
	})
	if !out.NothingToDo {
		t.Fatalf("outcome %+v, want nothing to do", out)
	}

	// Another writer moves the remote: the next Sync resets to it.
	other := testenv.GitCommitFiles(t, f.bare, "main", "Other writer", map[string]string{"README.md": "# fleet, edited\n"})
	run(t, opts, nothing)
	if got := readAt(t, dir, "README.md"); got != "# fleet, edited\n" {
		t.Errorf("README.md after the remote moved = %q", got)
	}

	// An edit with a change commits only that file, from a worktree that
	// was not walked.
	out = run(t, opts, setImage(newImage))
	if !out.Pushed {
		t.Fatalf("outcome %+v, want a push", out)
	}
	if files := testenv.GitCLI(t, f.bare, "show", "--name-only", "--format=", "main"); files != manifest+"\n" {
		t.Errorf("files of hoist's commit = %q, want %s", files, manifest)
	}
	if got := testenv.GitCLI(t, f.bare, "rev-parse", "main~1"); strings.TrimSpace(got) != other {
		t.Errorf("hoist's commit is not on top of the other writer's")
	}
	fsck(t, f.bare)
}

func TestCleanMarkDistrusted(t *testing.T) {
	tests := map[string]func(t *testing.T, co *git.Checkout, dir string){
		// Files edited through Dir are discarded by the next Sync.
		"edits through Dir": func(t *testing.T, co *git.Checkout, _ string) {
			d := co.Dir()
			if err := os.WriteFile(filepath.Join(d, manifest), []byte("edited\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, "stray.txt"), []byte("x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		// A mark that does not name the head is not trusted.
		"mark of another commit": func(t *testing.T, _ *git.Checkout, dir string) {
			if err := os.WriteFile(filepath.Join(dir, ".git", "hoist-clean"), []byte(strings.Repeat("ab", 20)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, manifest), []byte("edited\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"garbage mark": func(t *testing.T, _ *git.Checkout, dir string) {
			if err := os.WriteFile(filepath.Join(dir, ".git", "hoist-clean"), []byte("garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, manifest), []byte("edited\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		// An edit that fails is reset at once.
		"failed edit": func(t *testing.T, co *git.Checkout, dir string) {
			_, err := co.Update(context.Background(), func(ctx context.Context, d string) ([]writeback.Change, error) {
				if err := os.WriteFile(filepath.Join(d, manifest), []byte("half-written\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return nil, errors.New("disk full")
			}, git.UpdateOptions{Commit: commitOptions()})
			if err == nil {
				t.Fatal("Update succeeded")
			}
			if got := readAt(t, dir, manifest); got != manifestWith("ghcr.io/stefanprodan/podinfo:6.0.0") {
				t.Errorf("manifest after a failed edit = %q", got)
			}
		},
	}
	for name, spoil := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			opts := f.syncOptions(t)
			run(t, opts, nothing) // leaves the mark
			dir := cacheDir(t, opts)
			co, err := git.Sync(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			spoil(t, co, dir)
			co.Close()
			co, err = git.Sync(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer co.Close()
			if got := readAt(t, dir, manifest); got != manifestWith("ghcr.io/stefanprodan/podinfo:6.0.0") {
				t.Errorf("manifest after Sync = %q", got)
			}
			if _, err := os.Stat(filepath.Join(dir, "stray.txt")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("stray file after Sync: %v", err)
			}
		})
	}
}
