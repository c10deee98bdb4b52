package git_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/hoist-dev/hoist/writeback/git"
)

// TestPushCostIndependentOfHistory pushes a one-file change on a clone with
// a short history and on one with a long history, and compares what the
// pushes allocate (a count that, unlike time, does not depend on the
// machine's load): a push must not walk the history. go-git's own push
// walks everything reachable from the remote's refs, which made a push on
// 2,000 commits allocate 20 times what one on 20 commits did.
func TestPushCostIndependentOfHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a repository of 2,000 commits")
	}
	mallocs := func(commits int) float64 {
		r := newBenchRepo(t, 50, commits)
		ctx := context.Background()
		opts := r.syncOptions(t.TempDir())
		opts.FullHistory = true
		co, err := git.Sync(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer co.Close()
		n := 0
		push := func() {
			out, err := co.Update(ctx, bumpOne(r, &n), git.UpdateOptions{Commit: commitOptions()})
			if err != nil || !out.Pushed {
				t.Fatalf("Update on %d commits: %+v, %v", commits, out, err)
			}
		}
		push() // warm up: first use of the clone's pack
		const runs = 3
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			push()
		}
		runtime.ReadMemStats(&after)
		return float64(after.Mallocs-before.Mallocs) / runs
	}
	short, long := mallocs(20), mallocs(2000)
	t.Logf("allocations per push: %.0f on 20 commits, %.0f on 2,000 commits", short, long)
	if long > 1.5*short {
		t.Errorf("a push on 2,000 commits allocates %.0f times what one on 20 commits does (%.0f, %.0f); want the same", long/short, long, short)
	}
}
