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
// allocs/op. As the wall time includes the Git server's work and follows
// the machine's load, two custom metrics split the CPU time: cpu-ms/op is
// this process's (hoist, and the in-process HTTP server), server-cpu-ms/op
// that of the git processes serving the push.
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
			self0, kids0 := cpuTimes()
			for b.Loop() {
				out, err := co.Update(ctx, bumpOne(r, &n), uopts)
				if err != nil {
					b.Fatal(err)
				}
				if !out.Pushed {
					b.Fatalf("not pushed: %+v", out)
				}
			}
			self1, kids1 := cpuTimes()
			b.ReportMetric(float64((self1-self0).Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64((kids1-kids0).Milliseconds())/float64(b.N), "server-cpu-ms/op")
		})
	}
}
