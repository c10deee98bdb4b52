package git_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestSyncPacksTheCache keeps the number of packfiles bounded: go-git
// writes one per fetch, and a service fetches a busy repository every few
// minutes. After many fetches the cache holds few packfiles, git fsck
// finds it whole (shallow and full clones), and hoist still commits and
// pushes from it.
func TestSyncPacksTheCache(t *testing.T) {
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprintf("full history %v", full), func(t *testing.T) {
			f := newFixture(t)
			opts := f.syncOptions(t)
			opts.FullHistory = full
			run(t, opts, nothing)
			dir := cacheDir(t, opts)
			// hoist's own commit and objects, loose in the cache.
			if out := run(t, opts, setImage("ghcr.io/stefanprodan/podinfo:6.0.1")); !out.Pushed {
				t.Fatalf("first push: %+v", out)
			}
			for i := range 40 {
				testenv.GitCommitFiles(t, f.bare, "main", "other writer", map[string]string{fmt.Sprintf("other/f%d.txt", i%7): fmt.Sprint(i)})
				run(t, opts, nothing)
			}
			packs, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.pack"))
			if err != nil {
				t.Fatal(err)
			}
			// Packed into one at 33, then one more per fetch.
			if len(packs) > 12 {
				t.Errorf("%d packfiles after 40 fetches", len(packs))
			}
			testenv.GitCLI(t, dir, "fsck", "--no-dangling") // fails the test when the cache is not whole
			if out := run(t, opts, setImage(newImage)); !out.Pushed {
				t.Fatalf("push after packing: %+v", out)
			}
			if got := testenv.GitCLI(t, f.bare, "show", "main:"+manifest); !strings.Contains(got, newImage) {
				t.Errorf("main after the push:\n%s", got)
			}
			fsck(t, f.bare)
		})
	}
}
