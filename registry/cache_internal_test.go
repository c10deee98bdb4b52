package registry

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestTagsEntryEncoding: a tags value is written compressed and read back
// as it was; a value written by an older hoist (plain JSON) still reads.
func TestTagsEntryEncoding(t *testing.T) {
	thousand := make([]string, 1000)
	for i := range thousand {
		thousand[i] = fmt.Sprintf("1.%d.%d", i/25, i%25)
	}
	at := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		e    tagsEntry
	}{
		{"no tags", tagsEntry{FetchedAt: at}},
		{"one tag", tagsEntry{FetchedAt: at, Tags: []string{"v1"}}},
		{"1,000 tags", tagsEntry{FetchedAt: at, Tags: thousand}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := encodeTagsEntry(tc.e)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := json.Marshal(tc.e)
			if err != nil {
				t.Fatal(err)
			}
			for form, value := range map[string][]byte{"compressed": v, "plain JSON": plain} {
				var got tagsEntry
				if err := decodeTagsEntry(value, &got); err != nil {
					t.Fatalf("%s: %v", form, err)
				}
				if diff := cmp.Diff(tc.e, got); diff != "" {
					t.Errorf("%s (-want +got):\n%s", form, diff)
				}
			}
			if len(tc.e.Tags) == 1000 {
				t.Logf("1,000 tags: %d bytes of JSON, %d compressed", len(plain), len(v))
				if len(v) > len(plain)/4 {
					t.Errorf("compressed to %d of %d bytes, want a quarter at most", len(v), len(plain))
				}
			}
		})
	}
}

// FuzzDecodeTagsEntry: whatever a cache file holds, reading it returns an
// error or an entry, never panics.
func FuzzDecodeTagsEntry(f *testing.F) {
	v, err := encodeTagsEntry(tagsEntry{Tags: []string{"1.0.0", "latest"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v)
	f.Add([]byte(`{"fetchedAt":"2026-12-06T21:00:00Z","tags":["a"]}`))
	f.Add([]byte{tagsDeflated})
	f.Add([]byte{tagsDeflated, 0xff, 0x00})
	f.Fuzz(func(t *testing.T, v []byte) {
		var e tagsEntry
		_ = decodeTagsEntry(v, &e)
	})
}
