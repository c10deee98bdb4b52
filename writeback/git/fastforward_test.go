package git_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// otherWriter clones the bare repository with git, lets change edit the
// clone, and commits and pushes everything as another writer.
func otherWriter(t *testing.T, bare string, change func(dir string)) {
	t.Helper()
	dir := t.TempDir()
	testenv.GitCLI(t, "", "clone", "-q", bare, dir)
	change(dir)
	testenv.GitCLI(t, dir, "add", "-A")
	testenv.GitCLI(t, dir, "-c", "user.name=Other", "-c", "user.email=o@example.com", "commit", "-q", "-m", "other writer")
	testenv.GitCLI(t, dir, "push", "-q", "origin", "HEAD:main")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// assertMatchesHead checks with git itself that the cache's index and
// worktree are exactly its HEAD: no change, no untracked file, and index
// entries with the tree's modes and hashes.
func assertMatchesHead(t *testing.T, dir string) {
	t.Helper()
	if out := testenv.GitCLI(t, dir, "status", "--porcelain", "--untracked-files=all"); out != "" {
		t.Errorf("git status of the cache:\n%s", out)
	}
	var fromIndex []string
	for _, l := range strings.Split(strings.TrimSpace(testenv.GitCLI(t, dir, "ls-files", "-s")), "\n") {
		// "MODE HASH STAGE\tPATH" → "MODE HASH PATH"
		f := strings.Fields(l)
		fromIndex = append(fromIndex, f[0]+" "+f[1]+" "+f[3])
	}
	var fromTree []string
	for _, l := range strings.Split(strings.TrimSpace(testenv.GitCLI(t, dir, "ls-tree", "-r", "HEAD")), "\n") {
		// "MODE TYPE HASH\tPATH"
		f := strings.Fields(l)
		fromTree = append(fromTree, f[0]+" "+f[2]+" "+f[3])
	}
	if strings.Join(fromIndex, "\n") != strings.Join(fromTree, "\n") {
		t.Errorf("index:\n%s\nHEAD:\n%s", strings.Join(fromIndex, "\n"), strings.Join(fromTree, "\n"))
	}
}

// TestSyncFastForwardsTheWorktree moves a clean cache to another writer's
// commit by writing only what changed, and walks the worktree instead
// where that is not safe (symbolic links, a file that becomes a
// directory). Either way git finds the cache exactly at the new head, and
// hoist's next commit holds only hoist's change.
func TestSyncFastForwardsTheWorktree(t *testing.T) {
	tests := map[string]struct {
		change func(t *testing.T, dir string)
		walk   bool // expected to fall back to the walk
	}{
		"modify, add, delete, chmod": {change: func(t *testing.T, d string) {
			must(t, os.WriteFile(filepath.Join(d, "README.md"), []byte("# fleet, edited\n"), 0o644))
			must(t, os.MkdirAll(filepath.Join(d, "new", "deep"), 0o755))
			must(t, os.WriteFile(filepath.Join(d, "new", "deep", "a.yaml"), []byte("a: 1\n"), 0o644))
			must(t, os.WriteFile(filepath.Join(d, "run.sh"), []byte("#!/bin/sh\n"), 0o755))
		}},
		"symbolic link": {walk: true, change: func(t *testing.T, d string) {
			must(t, os.Symlink("README.md", filepath.Join(d, "link.md")))
		}},
		"file becomes a directory": {walk: true, change: func(t *testing.T, d string) {
			must(t, os.Remove(filepath.Join(d, "README.md")))
			must(t, os.MkdirAll(filepath.Join(d, "README.md"), 0o755))
			must(t, os.WriteFile(filepath.Join(d, "README.md", "inner"), []byte("x\n"), 0o644))
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			// A file and a directory that the later commits remove or
			// change.
			otherWriter(t, f.bare, func(d string) {
				must(t, os.MkdirAll(filepath.Join(d, "gone", "sub"), 0o755))
				must(t, os.WriteFile(filepath.Join(d, "gone", "sub", "x.yaml"), []byte("x: 1\n"), 0o644))
				must(t, os.WriteFile(filepath.Join(d, "run.sh"), []byte("#!/bin/sh\n"), 0o644))
			})
			var logs bytes.Buffer
			opts := f.syncOptions(t)
			opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			run(t, opts, nothing) // the clean mark
			otherWriter(t, f.bare, func(d string) {
				must(t, os.RemoveAll(filepath.Join(d, "gone")))
				if name == "modify, add, delete, chmod" {
					must(t, os.Chmod(filepath.Join(d, "run.sh"), 0o755))
				}
				tc.change(t, d)
			})
			logs.Reset()
			run(t, opts, nothing)
			walked := strings.Contains(logs.String(), "walking the worktree")
			if !walked && !strings.Contains(logs.String(), "fast-forwarded the worktree") {
				t.Errorf("the Sync neither fast-forwarded nor walked:\n%s", logs.String())
			}
			if walked != tc.walk {
				t.Errorf("walked = %v, want %v:\n%s", walked, tc.walk, logs.String())
			}
			dir := cacheDir(t, opts)
			assertMatchesHead(t, dir)
			if _, err := os.Stat(filepath.Join(dir, "gone")); !os.IsNotExist(err) {
				t.Errorf("the emptied directory is still there: %v", err)
			}
			out := run(t, opts, setImage(newImage))
			if !out.Pushed {
				t.Fatalf("push after the Sync: %+v", out)
			}
			if files := testenv.GitCLI(t, f.bare, "show", "--name-only", "--format=", "main"); files != manifest+"\n" {
				t.Errorf("hoist's commit changes %q, want only %s", files, manifest)
			}
			fsck(t, f.bare)
		})
	}
}
