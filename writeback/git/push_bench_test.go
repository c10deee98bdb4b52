package git_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/hoist-dev/hoist/writeback/git"
)

// BenchmarkPush times one Update (edit one file, commit, push to the
// checkout branch) on clones that hold 100 and 10,000 commits of history,
// as a service's cache does after months of commits. The cost must not grow
// with the history: both sizes should report about the same ns/op and
// allocs/op.
//
//	go test -run XXX -bench 'Push$' ./writeback/git/
func BenchmarkPush(b *testing.B) {
	for _, commits := range []int{100, 10000} {
		b.Run(fmt.Sprintf("commits=%d", commits), func(b *testing.B) {
			r := newBenchRepo(b, 200, commits)
			ctx := context.Background()
			opts := r.syncOptions(b.TempDir())
			opts.FullHistory = true
			co, err := git.Sync(ctx, opts)
			if err != nil {
				b.Fatal(err)
			}
			defer co.Close()
			uopts := git.UpdateOptions{Commit: commitOptions()}
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				out, err := co.Update(ctx, bumpOne(r, &n), uopts)
				if err != nil {
					b.Fatal(err)
				}
				if !out.Pushed {
					b.Fatalf("not pushed: %+v", out)
				}
			}
		})
	}
}
