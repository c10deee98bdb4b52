package automation_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/registry"
)

// BenchmarkScanMemory scans 1,000 repositories of 11,000 tags each (11 pages
// of 1,000) and reports the peak heap in use during the scan, in all and per
// repository above the heap before it:
//
//   - every-list-held: the former shape of Scanner.Scan, which listed every
//     repository, held all the tag lists, then selected;
//   - scan: Scanner.Scan, which selects a repository's policies as soon as
//     its tags are listed and drops the list.
//
// At this scale the registry is a handler that serves the tag lists from
// memory (the pages encoded once), not CNCF Distribution: the benchmark
// measures hoist, not the registry. The correctness tests use real
// registries.
func BenchmarkScanMemory(b *testing.B) {
	if testing.Short() {
		b.Skip("scans 11 million tags")
	}
	const (
		repos    = 1000
		tags     = 11000
		pageSize = 1000
	)
	srv := httptest.NewServer(newMemoryTags(tags, pageSize))
	b.Cleanup(srv.Close)
	set := memoryTagsSet(b, srv.URL, repos)
	client, err := registry.New(registry.WithRateLimit(0, 0), registry.WithPageSize(pageSize))
	if err != nil {
		b.Fatal(err)
	}
	scanner := &automation.Scanner{Registry: client}

	modes := []struct {
		name string
		scan func() []automation.Selection
	}{
		{"every-list-held", func() []automation.Selection { return scanHoldingEveryList(b, scanner, set) }},
		{"scan", func() []automation.Selection { return scanner.Scan(b.Context(), set) }},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			var peak, base uint64
			for b.Loop() {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base = ms.HeapInuse
				stop := sampleHeapInuse(&peak)
				sels := m.scan()
				stop()
				for _, s := range sels {
					if s.Err != nil || s.Tag != "1.109.99" {
						b.Fatalf("%s: tag %q, error %v", s.Key(), s.Tag, s.Err)
					}
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(peak-min(base, peak))/repos, "heap-B/repo")
		})
	}
}

// scanHoldingEveryList is what Scanner.Scan did before: list every
// repository (8 at a time), keep every list, then select.
func scanHoldingEveryList(b *testing.B, s *automation.Scanner, set *config.Set) []automation.Selection {
	lists := make([]registry.TagList, len(set.Policies))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, p := range set.Policies {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			tl, err := s.Registry.ListTags(b.Context(), registry.Repo{Image: p.Repository.Spec.Image})
			if err != nil {
				b.Error(err)
			}
			lists[i] = tl
		})
	}
	wg.Wait()
	out := make([]automation.Selection, len(set.Policies))
	for i, p := range set.Policies {
		res, err := automation.SelectTag(b.Context(), s.Registry, registry.Repo{Image: p.Repository.Spec.Image}, p.Compiled, lists[i].Tags, time.Now())
		out[i] = automation.Selection{Namespace: p.Namespace, Name: p.Name, Tag: res.Tag, Err: err}
	}
	return out
}

// sampleHeapInuse raises *peak to the heap in use, sampled every
// millisecond until stop is called (and once more then).
func sampleHeapInuse(peak *uint64) (stop func()) {
	var p atomic.Uint64
	p.Store(*peak)
	done := make(chan struct{})
	var wg sync.WaitGroup
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > p.Load() {
			p.Store(ms.HeapInuse)
		}
	}
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		sample()
		*peak = p.Load()
	}
}

// memoryTags serves /v2/ and every repository's tag list, the same n tags,
// in pages of pageSize linked with Link headers, from bodies encoded once.
type memoryTags struct {
	tags     []string
	pageSize int
	pages    [][]byte // by page index
}

func newMemoryTags(n, pageSize int) *memoryTags {
	m := &memoryTags{pageSize: pageSize}
	for i := range n {
		m.tags = append(m.tags, fmt.Sprintf("1.%d.%d", i/100, i%100))
	}
	slices.Sort(m.tags)
	for i := 0; i < n; i += pageSize {
		body, err := json.Marshal(map[string][]string{"tags": m.tags[i:min(i+pageSize, n)]})
		if err != nil {
			panic(err)
		}
		m.pages = append(m.pages, body)
	}
	return m
}

func (m *memoryTags) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/" {
		return
	}
	name, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/tags/list")
	if !ok || r.URL.Query().Get("n") != strconv.Itoa(m.pageSize) {
		http.NotFound(w, r)
		return
	}
	page := 0
	if last := r.URL.Query().Get("last"); last != "" {
		i, found := slices.BinarySearch(m.tags, last)
		if !found || (i+1)%m.pageSize != 0 {
			http.Error(w, "bad last", http.StatusBadRequest)
			return
		}
		page = (i + 1) / m.pageSize
	}
	if end := (page + 1) * m.pageSize; end < len(m.tags) {
		w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?n=%d&last=%s>; rel="next"`, name, m.pageSize, m.tags[end-1]))
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(m.pages[page])
}

// BenchmarkRescanUnchanged rescans 100 repositories of 1,000 tags whose
// lists did not change, as most rescans of a service at 5-minute intervals
// do (tag lists from memory, as in BenchmarkScanMemory):
//
//   - select: a Scanner that has not seen the lists, which selects each
//     policy over every tag (what every rescan cost before the memo);
//   - memo: the service's long-lived Scanner, which answers each policy
//     from its last selection when the list's sum is the same.
//
// Both share one registry client, so listing and decoding cost the same.
func BenchmarkRescanUnchanged(b *testing.B) {
	const repos, tags, pageSize = 100, 1000, 1000
	srv := httptest.NewServer(newMemoryTags(tags, pageSize))
	b.Cleanup(srv.Close)
	set := memoryTagsSet(b, srv.URL, repos)
	client, err := registry.New(registry.WithRateLimit(0, 0), registry.WithPageSize(pageSize))
	if err != nil {
		b.Fatal(err)
	}
	warm := &automation.Scanner{Registry: client}
	warm.Scan(b.Context(), set)
	for _, m := range []struct {
		name    string
		scanner func() *automation.Scanner
	}{
		{"select", func() *automation.Scanner { return &automation.Scanner{Registry: client} }},
		// The selection memo, every list decoded and hashed.
		{"memo", func() *automation.Scanner { automation.ForgetLists(warm); return warm }},
		// The selection memo and Repo.KnownSum: lists not decoded.
		{"memo-unchanged", func() *automation.Scanner { return warm }},
	} {
		b.Run(m.name, func(b *testing.B) {
			cpu := cpuTime()
			b.ReportAllocs()
			for b.Loop() {
				for _, s := range m.scanner().Scan(b.Context(), set) {
					if s.Err != nil || s.Tag != "1.9.99" {
						b.Fatalf("%s: tag %q, error %v", s.Key(), s.Tag, s.Err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*repos), "µs/repo")
			// The CPU of the process (client and tag server), steadier
			// than the wall clock on a shared machine.
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N*repos), "cpu-µs/repo")
		})
	}
}

// memoryTagsSet is a configuration of repos ImageRepositories of the tag
// server at url (team/app0000...), each with a semver policy ">=1.0.0".
func memoryTagsSet(b *testing.B, url string, repos int) *config.Set {
	host := strings.TrimPrefix(url, "http://")
	var docs strings.Builder
	for i := range repos {
		fmt.Fprintf(&docs, `---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: %[1]s, namespace: bench}
spec: {image: %[2]s/team/%[1]s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: %[1]s, namespace: bench}
spec:
  imageRepositoryRef: {name: %[1]s}
  policy: {semver: {range: '>=1.0.0'}}
`, fmt.Sprintf("app%04d", i), host)
	}
	set, err := config.Parse("hoist.yaml", []byte(docs.String()))
	if err != nil {
		b.Fatal(err)
	}
	return set
}
