package service_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hoist-dev/hoist/service"
)

// gatedJobs makes jobs whose runs record their start and then wait until
// released one by one, per key.
type gatedJobs struct {
	mu      sync.Mutex
	started []string
	running map[string]int
	gates   map[string]chan struct{}
}

func newGatedJobs() *gatedJobs {
	return &gatedJobs{running: map[string]int{}, gates: map[string]chan struct{}{}}
}

func (g *gatedJobs) job(key, group string, interval time.Duration) service.Job {
	g.mu.Lock()
	if g.gates[key] == nil {
		g.gates[key] = make(chan struct{})
	}
	gate := g.gates[key]
	g.mu.Unlock()
	return service.Job{Key: key, Group: group, Interval: interval, Run: func(ctx context.Context) error {
		g.mu.Lock()
		g.started = append(g.started, key)
		g.running[key]++
		g.mu.Unlock()
		select {
		case <-gate:
		case <-ctx.Done():
		}
		g.mu.Lock()
		g.running[key]--
		g.mu.Unlock()
		return nil
	}}
}

// Running returns the keys running, sorted, a key as many times as it has
// runs in progress.
func (g *gatedJobs) Running() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var keys []string
	for k, n := range g.running {
		for range n {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func (g *gatedJobs) Started() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.started)
}

// TestSchedulerGroups: Parallelism bounds the runs of each group of jobs
// (Job.Group); a job waiting for a slot of a full group does not hold up
// the jobs of other groups behind it; triggered runs still go before the
// interval runs of their group, a key still runs once at a time, and a
// job moved to another group by Update waits for a slot there.
func TestSchedulerGroups(t *testing.T) {
	type step struct {
		do          string // "trigger", "release", "due" (every first run) or "move"
		key, group  string // group: the key's new group, for "move"
		wantRunning []string
	}
	type job struct {
		key, group string
		interval   time.Duration // 0: runs only when triggered
	}
	tests := map[string]struct {
		parallelism int
		jobs        []job
		steps       []step
		wantStarted []string
	}{
		"one group: the second waits": {
			parallelism: 1,
			jobs:        []job{{key: "a1"}, {key: "a2"}},
			steps: []step{
				{do: "trigger", key: "a1", wantRunning: []string{"a1"}},
				{do: "trigger", key: "a2", wantRunning: []string{"a1"}},
				{do: "release", key: "a1", wantRunning: []string{"a2"}},
				{do: "release", key: "a2"},
			},
			wantStarted: []string{"a1", "a2"},
		},
		"a full group does not hold up another": {
			parallelism: 1,
			jobs:        []job{{"a1", "A", 0}, {"a2", "A", 0}, {"b1", "B", 0}, {"b2", "B", 0}},
			steps: []step{
				{do: "trigger", key: "a1", wantRunning: []string{"a1"}},
				{do: "trigger", key: "a2", wantRunning: []string{"a1"}},
				{do: "trigger", key: "b1", wantRunning: []string{"a1", "b1"}},
				{do: "trigger", key: "b2", wantRunning: []string{"a1", "b1"}},
				{do: "release", key: "b1", wantRunning: []string{"a1", "b2"}},
				{do: "release", key: "b2", wantRunning: []string{"a1"}},
				{do: "release", key: "a1", wantRunning: []string{"a2"}},
				{do: "release", key: "a2"},
			},
			wantStarted: []string{"a1", "b1", "b2", "a2"},
		},
		"parallelism per group": {
			parallelism: 2,
			jobs:        []job{{"a1", "A", 0}, {"a2", "A", 0}, {"a3", "A", 0}, {"b1", "B", 0}},
			steps: []step{
				{do: "trigger", key: "a1", wantRunning: []string{"a1"}},
				{do: "trigger", key: "a2", wantRunning: []string{"a1", "a2"}},
				{do: "trigger", key: "a3", wantRunning: []string{"a1", "a2"}},
				{do: "trigger", key: "b1", wantRunning: []string{"a1", "a2", "b1"}},
				{do: "release", key: "a2", wantRunning: []string{"a1", "a3", "b1"}},
				{do: "release", key: "a1", wantRunning: []string{"a3", "b1"}},
				{do: "release", key: "a3", wantRunning: []string{"b1"}},
				{do: "release", key: "b1"},
			},
			wantStarted: []string{"a1", "a2", "b1", "a3"},
		},
		"a trigger goes before the interval runs of its group": {
			parallelism: 1,
			jobs:        []job{{"a1", "A", time.Hour}, {"a2", "A", time.Hour}, {"hook", "A", 0}, {"b1", "B", 0}},
			steps: []step{
				{do: "due", wantRunning: []string{"a?"}}, // one of a1, a2: the one due first
				{do: "trigger", key: "b1", wantRunning: []string{"a?", "b1"}},
				{do: "trigger", key: "hook", wantRunning: []string{"a?", "b1"}},
				{do: "release", key: "b1", wantRunning: []string{"a?"}},
				{do: "release", key: "a?", wantRunning: []string{"hook"}},
				{do: "release", key: "hook", wantRunning: []string{"a!"}}, // the other
				{do: "release", key: "a!"},
			},
			wantStarted: []string{"a?", "b1", "hook", "a!"},
		},
		"one run per key at a time": {
			parallelism: 2,
			jobs:        []job{{"a1", "A", 0}, {"a2", "A", 0}},
			steps: []step{
				{do: "trigger", key: "a1", wantRunning: []string{"a1"}},
				{do: "trigger", key: "a1", wantRunning: []string{"a1"}}, // folded into one re-run
				{do: "trigger", key: "a2", wantRunning: []string{"a1", "a2"}},
				{do: "release", key: "a1", wantRunning: []string{"a1", "a2"}}, // the re-run
				{do: "release", key: "a1", wantRunning: []string{"a2"}},
				{do: "release", key: "a2"},
			},
			wantStarted: []string{"a1", "a2", "a1"},
		},
		"a job moved to another group waits for a slot there": {
			parallelism: 1,
			jobs:        []job{{"a1", "A", 0}, {"a2", "A", 0}, {"a3", "A", 0}, {"c1", "C", 0}},
			steps: []step{
				{do: "trigger", key: "a1", wantRunning: []string{"a1"}},
				{do: "trigger", key: "a2", wantRunning: []string{"a1"}},
				{do: "move", key: "a2", group: "B", wantRunning: []string{"a1", "a2"}},
				{do: "trigger", key: "c1", wantRunning: []string{"a1", "a2", "c1"}},
				{do: "trigger", key: "a3", wantRunning: []string{"a1", "a2", "c1"}},
				{do: "move", key: "a3", group: "C", wantRunning: []string{"a1", "a2", "c1"}},
				{do: "release", key: "a1", wantRunning: []string{"a2", "c1"}}, // a3 waits in C now
				{do: "release", key: "c1", wantRunning: []string{"a2", "a3"}},
				{do: "release", key: "a2", wantRunning: []string{"a3"}},
				{do: "release", key: "a3"},
			},
			wantStarted: []string{"a1", "a2", "c1", "a3"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				g := newGatedJobs()
				s := service.NewScheduler(service.SchedulerOptions{Clock: clock, Parallelism: tc.parallelism, StartupSpread: time.Minute, Jitter: -1})
				jobs := map[string]service.Job{}
				var order []string
				for _, j := range tc.jobs {
					jobs[j.key] = g.job(j.key, j.group, j.interval)
					order = append(order, j.key)
				}
				list := func() []service.Job {
					var l []service.Job
					for _, k := range order {
						l = append(l, jobs[k])
					}
					return l
				}
				mustUpdate(t, s, list()...)
				cancel, wait := startRun(t, s.Run)
				// "a?" is the interval job due first, "a!" the other.
				names := map[string]string{}
				resolve := func(keys []string) []string {
					out := make([]string, len(keys))
					for i, k := range keys {
						out[i] = k
						if n, ok := names[k]; ok {
							out[i] = n
						}
					}
					return out
				}
				for i, st := range tc.steps {
					switch st.do {
					case "trigger":
						if !s.Trigger(st.key) {
							t.Fatalf("step %d: Trigger(%q) = false", i, st.key)
						}
					case "release":
						g.gates[resolve([]string{st.key})[0]] <- struct{}{}
					case "due":
						clock.Advance(time.Minute)
						synctest.Wait()
						running := g.Running()
						if len(running) != 1 {
							t.Fatalf("step %d: running %v, want one", i, running)
						}
						names["a?"] = running[0]
						names["a!"] = map[string]string{"a1": "a2", "a2": "a1"}[running[0]]
					case "move":
						j := jobs[st.key]
						j.Group = st.group
						jobs[st.key] = j
						mustUpdate(t, s, list()...)
					}
					synctest.Wait()
					want := resolve(st.wantRunning)
					slices.Sort(want)
					if diff := cmp.Diff(want, g.Running(), cmpopts.EquateEmpty()); diff != "" {
						t.Fatalf("step %d (%s %s): running (-want +got):\n%s", i, st.do, st.key, diff)
					}
				}
				if diff := cmp.Diff(resolve(tc.wantStarted), g.Started()); diff != "" {
					t.Errorf("runs started (-want +got):\n%s", diff)
				}
				cancel()
				if err := wait(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}
