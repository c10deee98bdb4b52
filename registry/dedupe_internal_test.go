package registry

import (
	"fmt"
	"hash/maphash"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDedupe(t *testing.T) {
	tests := map[string]struct {
		in, want []string
	}{
		"empty":                       {in: nil, want: nil},
		"in order, no repeat":         {in: []string{"1.0.0", "1.1.0", "2.0.0"}, want: []string{"1.0.0", "1.1.0", "2.0.0"}},
		"in order, repeats":           {in: []string{"1.0.0", "1.0.0", "1.1.0", "2.0.0", "2.0.0", "2.0.0"}, want: []string{"1.0.0", "1.1.0", "2.0.0"}},
		"out of order, no repeat":     {in: []string{"2.0.0", "1.0.0", "1.1.0"}, want: []string{"2.0.0", "1.0.0", "1.1.0"}},
		"out of order, repeats apart": {in: []string{"2.0.0", "1.0.0", "2.0.0", "1.1.0", "1.0.0"}, want: []string{"2.0.0", "1.0.0", "1.1.0"}},
		"one tag":                     {in: []string{"latest"}, want: []string{"latest"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := dedupe(slices.Clone(tc.in))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("dedupe(%q) (-want +got):\n%s", tc.in, d)
			}
		})
	}
}

// BenchmarkDedupe drops the repeats of a list of 1,000 tags in order, as
// Distribution sends them (a decoded first scan after a restart): with a
// set (unsorted, as before), or by compacting neighbours (sorted).
func BenchmarkDedupe(b *testing.B) {
	tags := make([]string, 1000)
	for i := range tags {
		tags[i] = fmt.Sprintf("1.%03d.%d", i/10, i%10)
	}
	for _, mode := range []struct {
		name string
		f    func([]string) []string
	}{{"unsorted", dedupeUnsorted}, {"sorted", dedupe}} {
		b.Run(mode.name, func(b *testing.B) {
			work := make([]string, len(tags))
			b.ReportAllocs()
			for b.Loop() {
				copy(work, tags)
				if n := len(mode.f(work)); n != len(tags) {
					b.Fatalf("%d tags left of %d", n, len(tags))
				}
			}
		})
	}
}

// BenchmarkBodyHash hashes the body of a one-page list of 1,000 tags, as
// each rescan does to tell whether the registry sent the same bytes: with
// SHA-256 (as before) or with hash/maphash (bodyHash).
func BenchmarkBodyHash(b *testing.B) {
	body := TagListPage(1000)
	for _, mode := range []struct {
		name   string
		sha256 bool
	}{{"sha256", true}, {"maphash", false}} {
		b.Run(mode.name, func(b *testing.B) {
			c := &Client{seed: maphash.MakeSeed(), sha256Pages: mode.sha256}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var h uint64
			for b.Loop() {
				h ^= c.bodyHash(body)
			}
			_ = h
		})
	}
}
