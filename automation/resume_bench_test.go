package automation_test

import (
	"net/http/httptest"
	"testing"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/policy"
	"github.com/hoist-dev/hoist/registry"
)

// BenchmarkFirstScanAfterRestart scans 100 repositories of 1,000 tags
// whose lists did not change while hoist was down, with the Scanner of a
// new process (tag lists from memory, as in BenchmarkRescanUnchanged):
//
//   - select: nothing resumed, so each policy selects over every tag
//     (every first scan after a restart, before the state store kept
//     what the memo needs);
//   - resumed: each policy's stored selection is remembered first
//     (Scanner.Remember, as the service's resume does from the state
//     store; its cost counts), so each answers from the memo.
//
// Both share one registry client, so listing and decoding cost the same.
func BenchmarkFirstScanAfterRestart(b *testing.B) {
	const repos, tags, pageSize = 100, 1000, 1000
	srv := httptest.NewServer(newMemoryTags(tags, pageSize))
	b.Cleanup(srv.Close)
	set := memoryTagsSet(b, srv.URL, repos)
	client, err := registry.New(registry.WithRateLimit(0, 0), registry.WithPageSize(pageSize))
	if err != nil {
		b.Fatal(err)
	}
	// What the state store kept of the last life's scan.
	stored := (&automation.Scanner{Registry: client}).Scan(b.Context(), set)
	for _, mode := range []string{"select", "resumed"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s := &automation.Scanner{Registry: client}
				if mode == "resumed" {
					for i, p := range set.Policies {
						s.Remember(p, stored[i].TagsSum, policy.Result{Tag: stored[i].Tag, Candidates: stored[i].Candidates, Dropped: stored[i].Dropped})
					}
				}
				for _, sel := range s.Scan(b.Context(), set) {
					if sel.Err != nil || sel.Tag != "1.9.99" {
						b.Fatalf("%s: tag %q, error %v", sel.Key(), sel.Tag, sel.Err)
					}
				}
				if mode == "resumed" && automation.SelectionMemoHits(s) != repos {
					b.Fatalf("memo hits %d, want %d", automation.SelectionMemoHits(s), repos)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*repos), "µs/repo")
		})
	}
}

// BenchmarkFingerprint is what the service pays per policy for each
// selection it records and, once per restart, for each it resumes.
func BenchmarkFingerprint(b *testing.B) {
	srv := httptest.NewServer(newMemoryTags(1, 1))
	b.Cleanup(srv.Close)
	p := memoryTagsSet(b, srv.URL, 1).Policies[0]
	b.ReportAllocs()
	for b.Loop() {
		if automation.Fingerprint(p) == "" {
			b.Fatal("no fingerprint")
		}
	}
}
