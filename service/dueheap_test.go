package service

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDueHeap arms, re-arms and disarms entries at random and checks that
// the heap gives them back by due time, then arming order, and that every
// entry knows its place.
func TestDueHeap(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		rng := rand.New(rand.NewPCG(seed, seed))
		t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
		var (
			h   dueHeap
			seq uint64
		)
		entries := make([]*schedEntry, 200)
		for i := range entries {
			entries[i] = &schedEntry{index: -1}
		}
		for range 2000 {
			e := entries[rng.IntN(len(entries))]
			switch {
			case rng.IntN(4) == 0 && e.armed():
				h.remove(e.index)
			default:
				seq++
				e.next, e.seq = t0.Add(time.Duration(rng.IntN(50))*time.Second), seq
				if e.armed() {
					h.fix(e)
				} else {
					h.push(e)
				}
			}
			for i, it := range h {
				if it.e.index != i || !it.next.Equal(it.e.next) || it.seq != it.e.seq {
					t.Fatalf("seed %d: item %d holds %v/%d, its entry says %d, %v/%d", seed, i, it.next, it.seq, it.e.index, it.e.next, it.e.seq)
				}
			}
		}
		var want, got []*schedEntry
		for _, it := range h {
			want = append(want, it.e)
		}
		slices.SortFunc(want, func(a, b *schedEntry) int {
			if c := a.next.Compare(b.next); c != 0 {
				return c
			}
			return int(a.seq) - int(b.seq)
		})
		for len(h) > 0 {
			got = append(got, h.remove(0))
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b *schedEntry) bool { return a == b })); diff != "" {
			t.Errorf("seed %d: order (-want +got):\n%s", seed, diff)
		}
	}
}
