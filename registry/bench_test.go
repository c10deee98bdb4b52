package registry_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// BenchmarkScanNewestBuild measures requests per scan of a repository of n
// tags (each its own image) under newestBuild: a first scan with an empty
// cache, and a rescan after one new tag was pushed.
func BenchmarkScanNewestBuild(b *testing.B) {
	for _, n := range []int{100, 300} {
		reg := testenv.NewRegistry(b, testenv.RegistryOptions{Auth: testenv.AuthToken})
		pushBuilds(b, reg, "app", 0, n)
		repo := registry.Repo{Image: reg.Ref("app", ""), Keychain: secretFor(b, reg.Host, reg.Username, reg.Password)}

		b.Run(fmt.Sprintf("first/tags=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var count requestCounter
			for b.Loop() {
				c := newClient(b, registry.SystemClock{},
					registry.WithCache(openCache(b, filepath.Join(b.TempDir(), "c.db"))),
					registry.WithRequestObserver(count.observe))
				if _, err := scanNewestBuild(b.Context(), c, repo); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(count.all.Load())/float64(b.N), "requests/op")
		})

		b.Run(fmt.Sprintf("rescan-after-one-push/tags=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var count requestCounter
			c := newClient(b, registry.SystemClock{},
				registry.WithCache(openCache(b, filepath.Join(b.TempDir(), "c.db"))),
				registry.WithRequestObserver(count.observe))
			if _, err := scanNewestBuild(b.Context(), c, repo); err != nil {
				b.Fatal(err)
			}
			next := n
			count.all.Store(0)
			reg.Faults.ResetLog()
			for b.Loop() {
				b.StopTimer()
				pushBuilds(b, reg, "app", next, 1)
				next++
				b.StartTimer()
				if _, err := scanNewestBuild(b.Context(), c, repo); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(count.all.Load())/float64(b.N), "requests/op")
			b.ReportMetric(float64(reg.Faults.Reached("GET", testenv.TagsPath))/float64(b.N), "pages/op")
		})
	}
}

// BenchmarkScanManyRepositories lists the tags of 200 repositories of 1,000
// tags each on one host with a limit of 50 requests per second, and compares
// the wall time with what the limit allows for the requests made.
func BenchmarkScanManyRepositories(b *testing.B) {
	if testing.Short() {
		b.Skip("sets up 200,000 tags")
	}
	const (
		repos   = 200
		tags    = 1000
		rps     = 50
		burst   = 10
		workers = 16
	)
	reg := testenv.NewRegistry(b, testenv.RegistryOptions{})
	setup := time.Now()
	names := make([]string, tags-1)
	for i := range names {
		names[i] = fmt.Sprintf("v1.%d.%d", i/100, i%100)
	}
	for r := range repos {
		repo := fmt.Sprintf("team/app%03d", r)
		d := reg.PushImage(b, repo, "latest", testenv.ImageOptions{})
		reg.TagMany(b, repo, d, names)
	}
	b.Logf("setup: %d repositories of %d tags in %v", repos, tags, time.Since(setup).Round(time.Millisecond))
	reg.Faults.ResetLog()

	for _, limited := range []bool{true, false} {
		name := fmt.Sprintf("limit=%drps", rps)
		if !limited {
			name = "unlimited"
		}
		b.Run(name, func(b *testing.B) {
			scanRepositories(b, reg, repos, tags, workers, limited, rps, burst)
		})
	}
}

// scanRepositories lists every repository once per iteration with a pool
// of workers and reports requests, wall time, the time the rate limit
// allows for those requests, and the peak heap in use (client and
// in-process registry together).
func scanRepositories(b *testing.B, reg *testenv.Registry, repos, tags, workers int, limited bool, rps float64, burst int) {
	b.ReportAllocs()
	for b.Loop() {
		reg.Faults.ResetLog()
		var count requestCounter
		opts := []registry.Option{registry.WithRequestObserver(count.observe)}
		if limited {
			opts = append(opts, registry.WithRateLimit(rps, burst))
		}
		c := newClient(b, registry.SystemClock{}, opts...)
		var peak atomic.Uint64
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Go(func() {
			var ms runtime.MemStats
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		})

		start := time.Now()
		work := make(chan int)
		var wg sync.WaitGroup
		var listed atomic.Int64
		for range workers {
			wg.Go(func() {
				for r := range work {
					tl, err := c.ListTags(b.Context(), registry.Repo{Image: reg.Ref(fmt.Sprintf("team/app%03d", r), "")})
					if err != nil {
						b.Error(err)
						continue
					}
					listed.Add(int64(len(tl.Tags)))
				}
			})
		}
		for r := range repos {
			work <- r
		}
		close(work)
		wg.Wait()
		wall := time.Since(start)
		close(stop)
		sampler.Wait()

		if listed.Load() != int64(repos*tags) {
			b.Fatalf("listed %d tags, want %d", listed.Load(), repos*tags)
		}
		n := count.all.Load()
		b.ReportMetric(float64(n), "requests")
		b.ReportMetric(wall.Seconds(), "wall-s")
		if limited {
			allowed := time.Duration(float64(n-int64(burst)) / rps * float64(time.Second))
			b.ReportMetric(allowed.Seconds(), "limit-s")
		}
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(reg.Faults.Reached("GET", testenv.TagsPath)), "pages")
	}
}
