package webhook

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// gatedRun is a run function that reports each start and blocks until the
// gate is opened.
type gatedRun struct {
	started chan string
	gate    chan struct{}
	runs    atomic.Int64
}

func newGatedRun() *gatedRun {
	return &gatedRun{started: make(chan string, 100), gate: make(chan struct{})}
}

func (g *gatedRun) run(ctx context.Context, key string) {
	g.runs.Add(1)
	g.started <- key
	<-g.gate
}

func waitStarted(t *testing.T, g *gatedRun, want string) {
	t.Helper()
	select {
	case key := <-g.started:
		if key != want {
			t.Fatalf("run of %q started, want %q", key, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("run of %q did not start", want)
	}
}

func TestCoalescerStorm(t *testing.T) {
	g := newGatedRun()
	c := NewCoalescer(g.run)
	ctx := t.Context()
	if got := c.Trigger(ctx, "apps/web"); got != Started {
		t.Fatalf("first Trigger = %v, want started", got)
	}
	waitStarted(t, g, "apps/web")

	// 99 more requests while the first run is in flight.
	results := make([]Coalesced, 99)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = c.Trigger(ctx, "apps/web") })
	}
	wg.Wait()
	count := map[string]int{}
	for _, r := range results {
		count[r.String()]++
	}
	if diff := cmp.Diff(map[string]int{"queued": 1, "folded": 98}, count); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if n := c.InFlight(); n != 1 {
		t.Errorf("InFlight() = %d, want 1", n)
	}

	close(g.gate)
	waitStarted(t, g, "apps/web") // the pending run
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := g.runs.Load(); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
	if n := c.InFlight(); n != 0 {
		t.Errorf("InFlight() = %d after Wait, want 0", n)
	}
	// Idle again: the next request starts a run.
	if got := c.Trigger(ctx, "apps/web"); got != Started {
		t.Errorf("Trigger after the storm = %v, want started", got)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCoalescerKeysRunInParallel: a run in flight for one key does not hold
// up another key.
func TestCoalescerKeysRunInParallel(t *testing.T) {
	g := newGatedRun()
	c := NewCoalescer(g.run)
	ctx := t.Context()
	for _, key := range []string{"apps/a", "apps/b", "apps/c"} {
		if got := c.Trigger(ctx, key); got != Started {
			t.Errorf("Trigger(%q) = %v, want started", key, got)
		}
	}
	seen := map[string]bool{}
	for range 3 {
		select {
		case k := <-g.started:
			seen[k] = true
		case <-time.After(10 * time.Second):
			t.Fatal("runs did not start in parallel")
		}
	}
	if diff := cmp.Diff(map[string]bool{"apps/a": true, "apps/b": true, "apps/c": true}, seen); diff != "" {
		t.Errorf("started (-want +got):\n%s", diff)
	}
	if n := c.InFlight(); n != 3 {
		t.Errorf("InFlight() = %d, want 3", n)
	}
	close(g.gate)
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCoalescerRandomStorm: under -race, with many goroutines triggering a
// few keys: never two runs of a key at once, and for each key a run starts
// after its last request (no request is lost).
func TestCoalescerRandomStorm(t *testing.T) {
	const keys = 4
	var (
		seq                  atomic.Int64
		inFlight, maxFlight  [keys]atomic.Int64
		lastTrigger, lastRun [keys]atomic.Int64
	)
	keyName := func(i int) string { return fmt.Sprintf("apps/r%d", i) }
	index := map[string]int{}
	for i := range keys {
		index[keyName(i)] = i
	}
	keyIndex := func(key string) int { return index[key] }
	var runs atomic.Int64
	c := NewCoalescer(func(ctx context.Context, key string) {
		i := keyIndex(key)
		lastRun[i].Store(seq.Add(1))
		n := inFlight[i].Add(1)
		for {
			m := maxFlight[i].Load()
			if n <= m || maxFlight[i].CompareAndSwap(m, n) {
				break
			}
		}
		runs.Add(1)
		runtime.Gosched()
		time.Sleep(50 * time.Microsecond)
		inFlight[i].Add(-1)
	})
	ctx := t.Context()
	var wg sync.WaitGroup
	var started atomic.Int64
	for w := range 8 {
		wg.Go(func() {
			for j := range 300 {
				i := (w + j) % keys
				s := seq.Add(1)
				for {
					m := lastTrigger[i].Load()
					if s <= m || lastTrigger[i].CompareAndSwap(m, s) {
						break
					}
				}
				if c.Trigger(ctx, keyName(i)) == Started {
					started.Add(1)
				}
				if j%50 == 0 {
					runtime.Gosched()
				}
			}
		})
	}
	wg.Wait()
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		if m := maxFlight[i].Load(); m != 1 {
			t.Errorf("key %d: %d runs at once, want 1", i, m)
		}
		if lastRun[i].Load() < lastTrigger[i].Load() {
			t.Errorf("key %d: last run started at %d, before the last request at %d", i, lastRun[i].Load(), lastTrigger[i].Load())
		}
	}
	if n := runs.Load(); n >= 8*300 {
		t.Errorf("%d runs for %d requests: nothing was folded", n, 8*300)
	}
	t.Logf("%d requests, %d runs (%d started)", 8*300, runs.Load(), started.Load())
}

func TestCoalescerContext(t *testing.T) {
	t.Run("done before", func(t *testing.T) {
		c := NewCoalescer(func(context.Context, string) { t.Error("run called") })
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if got := c.Trigger(ctx, "apps/web"); got != Dropped {
			t.Errorf("Trigger = %v, want dropped", got)
		}
		if err := c.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("pending run skipped when done", func(t *testing.T) {
		g := newGatedRun()
		c := NewCoalescer(g.run)
		ctx, cancel := context.WithCancel(t.Context())
		c.Trigger(ctx, "apps/web")
		waitStarted(t, g, "apps/web")
		if got := c.Trigger(ctx, "apps/web"); got != Queued {
			t.Errorf("Trigger = %v, want queued", got)
		}
		cancel()
		close(g.gate)
		if err := c.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := g.runs.Load(); n != 1 {
			t.Errorf("%d runs, want 1", n)
		}
	})
	t.Run("wait gives up", func(t *testing.T) {
		g := newGatedRun()
		c := NewCoalescer(g.run)
		c.Trigger(t.Context(), "apps/web")
		waitStarted(t, g, "apps/web")
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		if err := c.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait = %v, want deadline exceeded", err)
		}
		close(g.gate)
		if err := c.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCoalescedString(t *testing.T) {
	got := []string{Started.String(), Queued.String(), Folded.String(), Dropped.String(), Coalesced(42).String()}
	if diff := cmp.Diff([]string{"started", "queued", "folded", "dropped", "unknown"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
