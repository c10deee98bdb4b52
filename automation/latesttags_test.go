package automation

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLatestTags(t *testing.T) {
	sig := func(tag string) bool { return strings.HasSuffix(tag, ".sig") }
	// The cases of Flux's TestSortTagsAndGetLatestTags, and exclusions.
	for name, tc := range map[string]struct {
		tags      []string
		excluded  func(string) bool
		want      []string
		wantCount int
	}{
		"no tags": {},
		"few semver tags": {
			tags: []string{"1.0.0", "0.0.8", "1.2.5", "3.0.1", "1.0.1"},
			want: []string{"3.0.1", "1.2.5", "1.0.1", "1.0.0", "0.0.8"}, wantCount: 5,
		},
		"10+ semver tags": {
			tags:      []string{"1.0.0", "0.0.8", "1.2.5", "3.0.1", "1.0.1", "5.1.1", "4.1.0", "4.5.0", "4.0.3", "2.2.2", "0.5.1", "0.1.0"},
			want:      []string{"5.1.1", "4.5.0", "4.1.0", "4.0.3", "3.0.1", "2.2.2", "1.2.5", "1.0.1", "1.0.0", "0.5.1"},
			wantCount: 12,
		},
		"numerical tags sort as strings, duplicates kept": {
			tags:      []string{"-62", "-88", "73", "72", "15", "16", "15", "29", "-33", "-91", "100", "101"},
			want:      []string{"73", "72", "29", "16", "15", "15", "101", "100", "-91", "-88"},
			wantCount: 12,
		},
		"exclusion list": {
			tags:     []string{"1.0.0", "sha256-abc.sig", "2.0.0", "zzz.sig"},
			excluded: sig,
			want:     []string{"2.0.0", "1.0.0"}, wantCount: 2,
		},
		"all excluded": {
			tags: []string{"a.sig"}, excluded: sig,
		},
	} {
		t.Run(name, func(t *testing.T) {
			in := slices.Clone(tc.tags)
			got, count := LatestTags(in, tc.excluded, 0)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("latest tags (-want +got):\n%s", diff)
			}
			if count != tc.wantCount {
				t.Errorf("count %d, want %d", count, tc.wantCount)
			}
			if diff := cmp.Diff(tc.tags, in); diff != "" {
				t.Errorf("the input was modified (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLatestTagsSorted checks LatestTags against a full reverse sort.
func TestLatestTagsSorted(t *testing.T) {
	var tags []string
	for i := range 1000 {
		tags = append(tags, strings.Repeat("x", i%7)+string(rune('a'+i*7919%26)))
	}
	want := slices.Clone(tags)
	slices.Sort(want)
	slices.Reverse(want)
	got, _ := LatestTags(tags, nil, 10)
	if diff := cmp.Diff(want[:10], got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// BenchmarkLatestTags: the latest tags of a repository of 10,000 tags, as
// each scan computes them for its status.
func BenchmarkLatestTags(b *testing.B) {
	tags := make([]string, 10000)
	for i := range tags {
		tags[i] = fmt.Sprintf("1.%d.%d", i/100, i%100)
	}
	b.ReportAllocs()
	for b.Loop() {
		LatestTags(tags, nil, LatestTagsCount)
	}
}
