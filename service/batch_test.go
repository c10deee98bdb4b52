package service_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/service"
)

// flushes records the flushes of a Batcher[string]. With gate set, each
// flush waits for a token from it (or for its context to end).
type flushes struct {
	clock *fakeClock
	start time.Time
	gate  chan struct{}

	mu         sync.Mutex
	got        []flush
	running    map[string]int
	maxPerKey  int
	inFlight   int
	maxRunning int
}

type flush struct {
	Key   string
	At    time.Duration // since start
	Items []string
}

func newFlushes(clock *fakeClock) *flushes {
	return &flushes{clock: clock, start: clock.Now(), running: map[string]int{}}
}

func (f *flushes) flush(ctx context.Context, key string, items []string) error {
	f.mu.Lock()
	f.got = append(f.got, flush{key, f.clock.Now().Sub(f.start), slices.Clone(items)})
	f.running[key]++
	f.maxPerKey = max(f.maxPerKey, f.running[key])
	f.inFlight++
	f.maxRunning = max(f.maxRunning, f.inFlight)
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	f.mu.Lock()
	f.running[key]--
	f.inFlight--
	f.mu.Unlock()
	return nil
}

func (f *flushes) Got() []flush {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func TestBatcher50AddsInOneSecondMakeOneFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		rec := newFlushes(clock)
		b := service.NewBatcher(rec.flush, service.BatcherOptions{Clock: clock})
		cancel, wait := startRun(t, b.Run)
		var want []string
		for i := range 50 {
			item := fmt.Sprintf("apps:image-%d", i)
			want = append(want, item)
			if !b.Add("https://git.example.com/fleet.git", item) {
				t.Fatal("Add returned false")
			}
			clock.Advance(20 * time.Millisecond)
		}
		clock.Advance(service.DefaultWindow)
		wantFlushes := []flush{{Key: "https://git.example.com/fleet.git", At: 49*20*time.Millisecond + service.DefaultWindow, Items: want}}
		if diff := cmp.Diff(wantFlushes, rec.Got()); diff != "" {
			t.Errorf("flushes (-want +got):\n%s", diff)
		}
		cancel()
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBatcherWindow(t *testing.T) {
	type add struct {
		At   time.Duration // since start
		Item string
		Now  bool // AddNow
	}
	tests := map[string]struct {
		opts service.BatcherOptions
		adds []add
		want []flush
	}{
		"one item waits for the window": {
			adds: []add{{0, "a", false}},
			want: []flush{{"repo", 5 * time.Second, []string{"a"}}},
		},
		"each item extends the window": {
			adds: []add{{0, "a", false}, {3 * time.Second, "b", false}, {6 * time.Second, "c", false}},
			want: []flush{{"repo", 11 * time.Second, []string{"a", "b", "c"}}},
		},
		"max wait caps a steady trickle": {
			opts: service.BatcherOptions{MaxWait: 12 * time.Second},
			adds: []add{{0, "a", false}, {4 * time.Second, "b", false}, {8 * time.Second, "c", false}, {11 * time.Second, "d", false}, {13 * time.Second, "e", false}},
			want: []flush{
				{"repo", 12 * time.Second, []string{"a", "b", "c", "d"}},
				{"repo", 18 * time.Second, []string{"e"}},
			},
		},
		"max wait equal to the window counts from the first item": {
			opts: service.BatcherOptions{Window: 5 * time.Second, MaxWait: 5 * time.Second},
			adds: []add{{0, "a", false}, {3 * time.Second, "b", false}, {6 * time.Second, "c", false}},
			want: []flush{
				{"repo", 5 * time.Second, []string{"a", "b"}},
				{"repo", 11 * time.Second, []string{"c"}},
			},
		},
		"configured window": {
			opts: service.BatcherOptions{Window: time.Second},
			adds: []add{{0, "a", false}, {500 * time.Millisecond, "b", false}},
			want: []flush{{"repo", 1500 * time.Millisecond, []string{"a", "b"}}},
		},
		"negative window flushes at once": {
			opts: service.BatcherOptions{Window: -1},
			adds: []add{{0, "a", false}, {time.Second, "b", false}},
			want: []flush{{"repo", 0, []string{"a"}}, {"repo", time.Second, []string{"b"}}},
		},
		"AddNow takes the waiting items along": {
			adds: []add{{0, "a", false}, {time.Second, "b", true}, {2 * time.Second, "c", false}},
			want: []flush{{"repo", time.Second, []string{"a", "b"}}, {"repo", 7 * time.Second, []string{"c"}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				rec := newFlushes(clock)
				tc.opts.Clock = clock
				b := service.NewBatcher(rec.flush, tc.opts)
				cancel, wait := startRun(t, b.Run)
				for _, a := range tc.adds {
					clock.Advance(a.At - clock.Now().Sub(rec.start))
					if a.Now {
						b.AddNow("repo", a.Item)
					} else {
						b.Add("repo", a.Item)
					}
				}
				clock.Advance(time.Minute)
				if diff := cmp.Diff(tc.want, rec.Got()); diff != "" {
					t.Errorf("flushes (-want +got):\n%s", diff)
				}
				cancel()
				if err := wait(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestBatcherSerialisesEachKey(t *testing.T) {
	tests := map[string]struct {
		parallelism int
		keys        []string
		wantAtOnce  int
	}{
		"different keys in parallel":     {parallelism: 4, keys: []string{"a", "b", "c"}, wantAtOnce: 3},
		"different keys up to the limit": {parallelism: 2, keys: []string{"a", "b", "c"}, wantAtOnce: 2},
		"one key":                        {parallelism: 4, keys: []string{"a"}, wantAtOnce: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				rec := newFlushes(clock)
				rec.gate = make(chan struct{})
				b := service.NewBatcher(rec.flush, service.BatcherOptions{Clock: clock, Parallelism: tc.parallelism})
				cancel, wait := startRun(t, b.Run)
				for _, k := range tc.keys {
					b.Add(k, k+"-1")
				}
				clock.Advance(service.DefaultWindow)
				// Items added during a flush of their key wait for it,
				// even when their window has passed.
				for _, k := range tc.keys {
					b.Add(k, k+"-2")
				}
				clock.Advance(time.Minute)
				rec.mu.Lock()
				atOnce := rec.inFlight
				rec.mu.Unlock()
				if atOnce != tc.wantAtOnce {
					t.Errorf("%d flushes at once, want %d", atOnce, tc.wantAtOnce)
				}
				close(rec.gate)
				synctest.Wait()
				// Per key, the items in order; the first key's flushes
				// start at once, so its second batch is a flush of its own.
				got := map[string][][]string{}
				for _, f := range rec.Got() {
					got[f.Key] = append(got[f.Key], f.Items)
				}
				first := tc.keys[0]
				if diff := cmp.Diff([][]string{{first + "-1"}, {first + "-2"}}, got[first]); diff != "" {
					t.Errorf("flushes of %s (-want +got):\n%s", first, diff)
				}
				for _, k := range tc.keys {
					if diff := cmp.Diff([]string{k + "-1", k + "-2"}, slices.Concat(got[k]...)); diff != "" {
						t.Errorf("items flushed for %s (-want +got):\n%s", k, diff)
					}
				}
				if rec.maxPerKey != 1 {
					t.Errorf("%d flushes of one key at once, want 1", rec.maxPerKey)
				}
				if rec.maxRunning > tc.parallelism {
					t.Errorf("%d flushes at once, want at most %d", rec.maxRunning, tc.parallelism)
				}
				cancel()
				if err := wait(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestBatcherShutdown(t *testing.T) {
	tests := map[string]struct {
		release bool // let the flush in progress return within the grace period
		wantErr error
	}{
		"flush finishes within the grace period": {release: true},
		"flush outlives the grace period":        {wantErr: service.ErrGraceExpired},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				rec := newFlushes(clock)
				rec.gate = make(chan struct{})
				logger, logs := newTestLogger()
				b := service.NewBatcher(rec.flush, service.BatcherOptions{Clock: clock, Logger: logger, Grace: 10 * time.Second})
				cancel, wait := startRun(t, b.Run)
				b.AddNow("fleet", "a")
				b.Add("fleet", "b") // waits behind the flush of a: dropped
				b.Add("other", "c") // waits for its window: dropped
				synctest.Wait()
				cancel()
				synctest.Wait()
				if b.Add("fleet", "d") {
					t.Error("Add after shutdown returned true")
				}
				if tc.release {
					rec.gate <- struct{}{}
				} else {
					clock.Advance(10 * time.Second)
				}
				err := wait()
				if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
					t.Fatalf("Run: %v, want %v", err, tc.wantErr)
				}
				clock.Advance(time.Minute)
				if diff := cmp.Diff([]flush{{"fleet", 0, []string{"a"}}}, rec.Got()); diff != "" {
					t.Errorf("flushes (-want +got):\n%s", diff)
				}
				for _, want := range []string{
					`level=WARN msg="batch dropped at shutdown" key=fleet items=1`,
					`level=WARN msg="batch dropped at shutdown" key=other items=1`,
				} {
					if !strings.Contains(logs.String(), want) {
						t.Errorf("logs lack %q:\n%s", want, logs)
					}
				}
			})
		})
	}
}

func TestBatcherLogsFailedFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		logger, logs := newTestLogger()
		var calls int
		b := service.NewBatcher(func(_ context.Context, key string, items []int) error {
			calls++
			if calls == 1 {
				return fmt.Errorf("pushing to %s: remote moved", key)
			}
			return nil
		}, service.BatcherOptions{Clock: clock, Logger: logger})
		b.Add("fleet", 1) // before Run: kept until Run starts
		b.Add("fleet", 2)
		cancel, wait := startRun(t, b.Run)
		clock.Advance(service.DefaultWindow)
		b.Add("fleet", 3)
		clock.Advance(service.DefaultWindow)
		cancel()
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if calls != 2 {
			t.Errorf("%d flushes, want 2: a failed flush must not stop later ones", calls)
		}
		want := `level=ERROR msg="batch flush failed" key=fleet items=2 error="pushing to fleet: remote moved"` + "\n"
		if diff := cmp.Diff(want, logs.String()); diff != "" {
			t.Errorf("logs (-want +got):\n%s", diff)
		}
		if err := b.Run(t.Context()); !errors.Is(err, service.ErrAlreadyRunning) {
			t.Errorf("second Run: %v, want ErrAlreadyRunning", err)
		}
	})
}

// TestBatcherAddGoesFirst: with every slot taken, a batch with an item
// added by Add (news: a changed selection) is flushed before the batches
// waiting that AddNow alone asked for (interval runs), whether Add made
// its batch or joined one waiting.
func TestBatcherAddGoesFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		rec := newFlushes(clock)
		rec.gate = make(chan struct{})
		b := service.NewBatcher(rec.flush, service.BatcherOptions{Clock: clock, Parallelism: 1})
		cancel, wait := startRun(t, b.Run)
		for _, k := range []string{"a", "b", "c"} {
			b.AddNow(k, k+"-interval")
		}
		synctest.Wait() // a flushes, b and c wait
		b.Add("c", "c-news")
		b.Add("d", "d-news")
		clock.Advance(service.DefaultWindow)
		for range 4 {
			rec.gate <- struct{}{}
			synctest.Wait()
		}
		var keys []string
		for _, f := range rec.Got() {
			keys = append(keys, f.Key)
		}
		if diff := cmp.Diff([]string{"a", "c", "d", "b"}, keys); diff != "" {
			t.Errorf("flushes (-want +got):\n%s", diff)
		}
		cancel()
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	})
}
