package git_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback/git"
)

// TestClonesFollowPackfiles keeps a clone open between checkouts
// (SyncOptions.Clones) and changes its packfiles in between, as another
// process may (a fetch, git repack, a new clone in the cache) or as hoist
// does itself (packing the cache after 32 fetches): the next Sync must not
// read through the kept store, whose index of packfiles is then stale.
// After the change a Sync at rest (nothing to fetch) reads the head's tree
// (TreeOf) and commits and pushes, without cloning again; the kept clone
// is taken back only when nothing changed.
func TestClonesFollowPackfiles(t *testing.T) {
	cases := []struct {
		name string
		// change changes the cache at dir while its clone is kept; opts
		// are the options of the Syncs with the Clones.
		change func(t *testing.T, f *fixture, opts git.SyncOptions, dir string)
		stale  bool
		// warn is the warning the next Sync logs, if any.
		warn string
	}{
		{name: "unchanged", change: func(*testing.T, *fixture, git.SyncOptions, string) {}},
		{name: "fetched by another process", stale: true, change: func(t *testing.T, f *fixture, opts git.SyncOptions, dir string) {
			testenv.GitCommitFiles(t, f.bare, "main", "other writer", map[string]string{"other.txt": "1"})
			opts.Clones = nil
			run(t, opts, nothing)
		}},
		{name: "packed by git", stale: true, change: func(t *testing.T, _ *fixture, _ git.SyncOptions, dir string) {
			testenv.GitCLI(t, dir, "repack", "-a", "-d", "-q")
		}},
		{name: "cloned again by another process", stale: true, change: func(t *testing.T, f *fixture, opts git.SyncOptions, dir string) {
			testenv.GitCommitFiles(t, f.bare, "main", "other writer", map[string]string{"other.txt": "1"})
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			opts.Clones = nil
			run(t, opts, nothing)
		}},
		{name: "cloned again by hoist", warn: "cached clone is unusable; cloning again", change: func(t *testing.T, _ *fixture, _ git.SyncOptions, dir string) {
			// A cache that names another remote is cloned again, in
			// the checkout that took the kept clone.
			testenv.GitCLI(t, dir, "remote", "set-url", "origin", "http://127.0.0.1:1/elsewhere.git")
		}},
		{name: "packed by hoist", change: func(t *testing.T, f *fixture, opts git.SyncOptions, dir string) {
			// 33 fetches through the kept clone: the last Sync packs
			// the cache (compactAfter) and opens it afresh.
			for i := range 33 {
				testenv.GitCommitFiles(t, f.bare, "main", "other writer", map[string]string{"other.txt": fmt.Sprint(i)})
				run(t, opts, nothing)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			// Many trees, each read from one packfile or another (go-git
			// looks an object up in its packfiles in random order), so
			// that a stale index fails TreeOf below.
			dirs := map[string]string{}
			for i := range 32 {
				dirs[fmt.Sprintf("d%02d/f.txt", i)] = fmt.Sprint(i)
			}
			testenv.GitCommitFiles(t, f.bare, "main", "directories", dirs)
			var logs bytes.Buffer
			opts := f.syncOptions(t)
			opts.ListFirst = true
			opts.Clones = &git.Clones{}
			opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
			run(t, opts, nothing) // the clone
			// hoist's commit (loose) and the fetches read the
			// packfiles' index into the kept store.
			if out := run(t, opts, setImage("ghcr.io/stefanprodan/podinfo:6.0.1")); !out.Pushed {
				t.Fatalf("first push: %+v", out)
			}
			dir := cacheDir(t, opts)
			reused0, stale0 := git.ClonesTaken(opts.Clones)
			tc.change(t, f, opts, dir)
			reused1, stale1 := git.ClonesTaken(opts.Clones)

			co, err := git.Sync(context.Background(), opts)
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			defer co.Close()
			reused2, stale2 := git.ClonesTaken(opts.Clones)
			if got, want := [2]int{reused2 - reused1, stale2 - stale1}, map[bool][2]int{false: {1, 0}, true: {0, 1}}[tc.stale]; got != want {
				t.Errorf("the Sync after the change took the kept clone (reused, stale) %v, want %v", got, want)
			}
			if tc.name == "unchanged" && (reused1-reused0 != 0 || reused0 != 1 || stale0 != 0) {
				t.Errorf("before: reused %d stale %d, want the push's Sync to reuse the clone", reused0, stale0)
			}
			if got, want := co.Head(), testenv.GitHead(t, f.bare, "main"); got != want {
				t.Errorf("Head %s, want the remote's %s", got, want)
			}
			// Every tree, as git reads it on the server.
			want := map[string]string{".": strings.TrimSpace(testenv.GitCLI(t, f.bare, "rev-parse", "main^{tree}"))}
			for _, l := range strings.Split(strings.TrimSpace(testenv.GitCLI(t, f.bare, "ls-tree", "main")), "\n") {
				// MODE TYPE HASH\tNAME
				if fields := strings.Fields(l); len(fields) == 4 && fields[1] == "tree" {
					want[fields[3]] = fields[2]
				}
			}
			got := map[string]string{}
			for dir := range want {
				got[dir] = co.TreeOf(dir)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("TreeOf (-want +got):\n%s", diff)
			}
			out, err := co.Update(context.Background(), setImage(newImage), git.UpdateOptions{Commit: commitOptions()})
			if err != nil || !out.Pushed {
				t.Fatalf("Update: %+v, %v", out, err)
			}
			if got := testenv.GitCLI(t, f.bare, "show", "main:"+manifest); !strings.Contains(got, newImage) {
				t.Errorf("main after the push:\n%s", got)
			}
			if tc.warn != "" {
				if !strings.Contains(logs.String(), tc.warn) {
					t.Errorf("warnings %q, want %q", logs.String(), tc.warn)
				}
			} else if diff := cmp.Diff("", logs.String()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			fsck(t, f.bare)
		})
	}
}
