package service

import (
	"container/heap"
	"testing"
	"time"
)

// BenchmarkDueHeap pops the next due of 10,000 armed entries and arms it
// again an interval later, as a round of the service's scans does: a heap
// of pointers compared through its entries (as before), against the heap
// whose items hold their keys. The entries lie among other objects (11 KB
// apart, as the service's repositories do), so reads through pointers
// miss the cache. One op is one pop and one push.
func BenchmarkDueHeap(b *testing.B) {
	const jobs = 10_000
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	entries := make([]*schedEntry, jobs)
	ballast := make([][]byte, jobs)
	for i := range entries {
		entries[i] = &schedEntry{index: -1, next: t0.Add(time.Duration(i*7919%jobs) * 30 * time.Millisecond), seq: uint64(i)}
		ballast[i] = make([]byte, 11<<10)
	}
	b.Run("pointers", func(b *testing.B) {
		h := make(pointerHeap, 0, jobs)
		for _, e := range entries {
			heap.Push(&h, e)
		}
		seq := uint64(jobs)
		for b.Loop() {
			e := heap.Pop(&h).(*schedEntry)
			seq++
			e.next, e.seq = e.next.Add(5*time.Minute), seq
			heap.Push(&h, e)
		}
	})
	b.Run("inline-keys", func(b *testing.B) {
		h := make(dueHeap, 0, jobs)
		for _, e := range entries {
			e.index = -1
			h.push(e)
		}
		seq := uint64(jobs)
		for b.Loop() {
			e := h.remove(0)
			seq++
			e.next, e.seq = e.next.Add(5*time.Minute), seq
			h.push(e)
		}
	})
	_ = ballast
}

// pointerHeap is the Scheduler's heap before its items held their keys.
type pointerHeap []*schedEntry

func (h pointerHeap) Len() int { return len(h) }
func (h pointerHeap) Less(i, j int) bool {
	if h[i].next.Equal(h[j].next) {
		return h[i].seq < h[j].seq
	}
	return h[i].next.Before(h[j].next)
}
func (h pointerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *pointerHeap) Push(x any) {
	e := x.(*schedEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *pointerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}
