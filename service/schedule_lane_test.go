package service_test

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/service"
)

// TestSchedulerLaneTakesNextRun checks that the goroutine of a run that
// ends takes the run waiting for its slot, instead of a new goroutine
// starting it: a wake-up's runs then grow one stack per lane, not one a
// run.
func TestSchedulerLaneTakesNextRun(t *testing.T) {
	for name, tc := range map[string]struct {
		parallelism int
		keys        []string
		wantLanes   int // goroutines that ran the keys
	}{
		"one lane":                  {parallelism: 1, keys: []string{"a", "b", "c", "d"}, wantLanes: 1},
		"two lanes, a run waits":    {parallelism: 2, keys: []string{"a", "b", "c"}, wantLanes: 2},
		"two lanes, runs take turn": {parallelism: 2, keys: []string{"a", "b", "c", "d", "e", "f"}, wantLanes: 2},
	} {
		t.Run(name, func(t *testing.T) {
			s := service.NewScheduler(service.SchedulerOptions{Parallelism: tc.parallelism})
			var (
				mu    sync.Mutex
				ids   = map[string]uint64{}
				gate  = make(chan struct{})
				ended sync.WaitGroup
			)
			var jobs []service.Job
			for _, k := range tc.keys {
				ended.Add(1)
				jobs = append(jobs, service.Job{Key: k, Run: func(context.Context) error {
					defer ended.Done()
					<-gate // until every key was triggered
					mu.Lock()
					ids[k] = goroutineID(t)
					mu.Unlock()
					return nil
				}})
			}
			if err := s.Update(jobs); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			for _, k := range tc.keys {
				if !s.Trigger(k) {
					t.Fatalf("Trigger(%q) = false", k)
				}
			}
			close(gate)
			ended.Wait()
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			lanes := map[uint64]bool{}
			for _, id := range ids {
				lanes[id] = true
			}
			if diff := cmp.Diff(tc.wantLanes, len(lanes)); diff != "" {
				t.Errorf("goroutines that ran %d runs (-want +got):\n%s", len(tc.keys), diff)
			}
		})
	}
}

// goroutineID is the number of the calling goroutine, as its stack trace
// names it.
func goroutineID(t *testing.T) uint64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	field := bytes.Fields(bytes.TrimPrefix(buf, []byte("goroutine ")))[0]
	id, err := strconv.ParseUint(string(field), 10, 64)
	if err != nil {
		t.Errorf("parsing the goroutine of %q: %v", buf, err)
	}
	return id
}
