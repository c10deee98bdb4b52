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

// recorder makes jobs that record their runs. With gate set, each run
// waits for a token from it (or for its context to end).
type recorder struct {
	clock *fakeClock
	start time.Time
	gate  chan struct{}

	mu         sync.Mutex
	runs       []run
	running    int
	maxRunning int
	ctxErrs    []error // ctx.Err() of each run when it returned
}

type run struct {
	Key string
	At  time.Duration // since start
}

func newRecorder(clock *fakeClock) *recorder {
	return &recorder{clock: clock, start: clock.Now()}
}

func (r *recorder) job(key string, interval time.Duration) service.Job {
	return service.Job{Key: key, Interval: interval, Run: func(ctx context.Context) error {
		r.mu.Lock()
		r.runs = append(r.runs, run{key, r.clock.Now().Sub(r.start)})
		r.running++
		r.maxRunning = max(r.maxRunning, r.running)
		gate := r.gate
		r.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
			}
		}
		r.mu.Lock()
		r.running--
		r.ctxErrs = append(r.ctxErrs, ctx.Err())
		r.mu.Unlock()
		return nil
	}}
}

func (r *recorder) Runs() []run {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]run(nil), r.runs...)
}

func (r *recorder) Keys() []string {
	var keys []string
	for _, x := range r.Runs() {
		keys = append(keys, x.Key)
	}
	return keys
}

func (r *recorder) Running() (now, most int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running, r.maxRunning
}

// startRun runs fn(ctx) in the bubble; stop cancels ctx and returns fn's
// error (the caller advances the clock first when runs are stuck).
func startRun(t *testing.T, fn func(context.Context) error) (cancel func(), wait func() error) {
	t.Helper()
	ctx, cancelCtx := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- fn(ctx) }()
	synctest.Wait()
	return cancelCtx, func() error { return <-errc }
}

func mustUpdate(t *testing.T, s *service.Scheduler, jobs ...service.Job) {
	t.Helper()
	if err := s.Update(jobs); err != nil {
		t.Fatal(err)
	}
}

func TestSchedulerFirstRunsAreSpread(t *testing.T) {
	tests := map[string]struct {
		interval, spread time.Duration
		bound            time.Duration // every first run is before start+bound
	}{
		"default spread below the interval": {interval: time.Hour, bound: service.DefaultStartupSpread},
		"interval below the spread":         {interval: 10 * time.Second, spread: time.Minute, bound: 10 * time.Second},
		"configured spread":                 {interval: time.Hour, spread: 5 * time.Minute, bound: 5 * time.Minute},
		"no spread":                         {interval: time.Hour, spread: -1, bound: time.Nanosecond},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				rec := newRecorder(clock)
				// Coalesce -1: the spread's offsets, not the wake-ups that
				// would share them (TestSchedulerCoalescesDueRuns).
				s := service.NewScheduler(service.SchedulerOptions{Clock: clock, StartupSpread: tc.spread, Jitter: -1, Coalesce: -1, Parallelism: 100})
				var jobs []service.Job
				for i := range 20 {
					jobs = append(jobs, rec.job(fmt.Sprintf("apps/repo-%d", i), tc.interval))
				}
				mustUpdate(t, s, jobs...)
				cancel, wait := startRun(t, s.Run)

				if tc.bound > time.Nanosecond {
					clock.Advance(tc.bound - time.Nanosecond)
				} else {
					clock.Advance(0)
				}
				runs := rec.Runs()
				if len(runs) != len(jobs) {
					t.Errorf("%d first runs within the spread, want %d", len(runs), len(jobs))
				}
				offsets := map[time.Duration]bool{}
				for _, r := range runs {
					if r.At < 0 || r.At >= tc.bound {
						t.Errorf("first run of %s at +%v, want in [0, %v)", r.Key, r.At, tc.bound)
					}
					offsets[r.At] = true
				}
				if tc.bound > time.Second && len(offsets) < 10 {
					t.Errorf("20 jobs start at only %d distinct offsets", len(offsets))
				}
				cancel()
				if err := wait(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestSchedulerFirstOffsetIsStable(t *testing.T) {
	offsets := func() map[string]time.Duration {
		out := map[string]time.Duration{}
		synctest.Test(t, func(t *testing.T) {
			clock := newFakeClock()
			rec := newRecorder(clock)
			s := service.NewScheduler(service.SchedulerOptions{Clock: clock})
			mustUpdate(t, s, rec.job("a", time.Hour), rec.job("b", time.Hour))
			cancel, wait := startRun(t, s.Run)
			for _, k := range []string{"a", "b"} {
				next, _ := s.Next(k)
				out[k] = next.Sub(rec.start)
			}
			cancel()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
		})
		return out
	}
	first, second := offsets(), offsets()
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("first-run offsets differ between starts (-first +second):\n%s", diff)
	}
}

func TestSchedulerRunsOnInterval(t *testing.T) {
	tests := map[string]struct {
		jitter   float64
		steps    []time.Duration // advance by each, after the first run
		wantRuns []int           // runs after each step, first run included
	}{
		"without jitter": {
			jitter:   -1,
			steps:    []time.Duration{time.Minute - time.Nanosecond, time.Nanosecond, time.Minute, 30 * time.Second},
			wantRuns: []int{1, 2, 3, 3},
		},
		"jitter of 10 percent": {
			jitter:   0.1,
			steps:    []time.Duration{54*time.Second - time.Nanosecond, 12 * time.Second, 42 * time.Second, 24 * time.Second},
			wantRuns: []int{1, 2, 2, 3},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				rec := newRecorder(clock)
				s := service.NewScheduler(service.SchedulerOptions{Clock: clock, Jitter: tc.jitter, StartupSpread: -1})
				mustUpdate(t, s, rec.job("a", time.Minute))
				cancel, wait := startRun(t, s.Run)
				clock.Advance(0)
				if got := len(rec.Runs()); got != 1 {
					t.Fatalf("%d runs at start, want 1", got)
				}
				var got []int
				for _, d := range tc.steps {
					clock.Advance(d)
					got = append(got, len(rec.Runs()))
				}
				if diff := cmp.Diff(tc.wantRuns, got); diff != "" {
					t.Errorf("runs after each step (-want +got):\n%s", diff)
				}
				cancel()
				if err := wait(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestSchedulerTriggerCoalesces(t *testing.T) {
	tests := map[string]struct {
		triggersDuringRun int
		wantRuns          int
	}{
		"no trigger during the run": {0, 1},
		"one trigger":               {1, 2},
		"a storm of triggers":       {50, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				rec := newRecorder(clock)
				rec.gate = make(chan struct{})
				s := service.NewScheduler(service.SchedulerOptions{Clock: clock})
				mustUpdate(t, s, rec.job("apps/podinfo", 0))
				cancel, wait := startRun(t, s.Run)
				if !s.Trigger("apps/podinfo") {
					t.Fatal("Trigger of a known key returned false")
				}
				synctest.Wait()
				for range tc.triggersDuringRun {
					s.Trigger("apps/podinfo")
				}
				close(rec.gate)
				synctest.Wait()
				if got := len(rec.Runs()); got != tc.wantRuns {
					t.Errorf("%d runs, want %d", got, tc.wantRuns)
				}
				if _, most := rec.Running(); most != 1 {
					t.Errorf("%d runs of one key at once, want 1", most)
				}
				cancel()
				if err := wait(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestSchedulerTrigger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		rec := newRecorder(clock)
		s := service.NewScheduler(service.SchedulerOptions{Clock: clock})
		mustUpdate(t, s, rec.job("a", time.Hour), rec.job("b", 0))
		if s.Trigger("unknown") {
			t.Error("Trigger of an unknown key returned true")
		}
		if !s.Trigger("b") {
			t.Error("Trigger before Run returned false")
		}
		synctest.Wait()
		if got := len(rec.Runs()); got != 0 {
			t.Errorf("%d runs before Run, want 0", got)
		}
		cancel, wait := startRun(t, s.Run)
		if diff := cmp.Diff([]string{"b"}, rec.Keys()); diff != "" {
			t.Errorf("runs after Run started (-want +got):\n%s", diff)
		}
		// A trigger replaces the interval run due next: the interval
		// counts again from the end of the triggered run.
		clock.Advance(10 * time.Second)
		s.Trigger("a")
		synctest.Wait()
		next, ok := s.Next("a")
		if want := rec.start.Add(10 * time.Second).Add(time.Hour); !ok || next.Sub(want).Abs() > 6*time.Minute {
			t.Errorf("Next(a) = %v, %v after a trigger; want about %v", next, ok, want)
		}
		if _, ok := s.Next("b"); ok {
			t.Error("Next(b): a job without interval has a scheduled run")
		}
		cancel()
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if s.Trigger("a") {
			t.Error("Trigger after shutdown returned true")
		}
		if err := s.Run(t.Context()); !errors.Is(err, service.ErrAlreadyRunning) {
			t.Errorf("second Run: %v, want ErrAlreadyRunning", err)
		}
	})
}

func TestSchedulerParallelism(t *testing.T) {
	tests := map[string]struct {
		parallelism int
		jobs        int
	}{
		"one at a time":        {1, 4},
		"two at a time":        {2, 5},
		"more slots than jobs": {8, 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				rec := newRecorder(clock)
				rec.gate = make(chan struct{})
				s := service.NewScheduler(service.SchedulerOptions{Clock: clock, Parallelism: tc.parallelism})
				var jobs []service.Job
				var want []string
				for i := range tc.jobs {
					jobs = append(jobs, rec.job(fmt.Sprintf("job-%d", i), 0))
					want = append(want, fmt.Sprintf("job-%d", i))
				}
				mustUpdate(t, s, jobs...)
				cancel, wait := startRun(t, s.Run)
				for _, j := range jobs {
					s.Trigger(j.Key)
				}
				synctest.Wait()
				if now, _ := rec.Running(); now != min(tc.parallelism, tc.jobs) {
					t.Errorf("%d runs at once, want %d", now, min(tc.parallelism, tc.jobs))
				}
				for range tc.jobs {
					rec.gate <- struct{}{}
					synctest.Wait()
				}
				if _, most := rec.Running(); most > tc.parallelism {
					t.Errorf("up to %d runs at once, want at most %d", most, tc.parallelism)
				}
				got := rec.Keys()
				if tc.parallelism > 1 {
					slices.Sort(got) // runs started together record in any order
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("runs (-want +got):\n%s", diff)
				}
				cancel()
				if err := wait(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestSchedulerUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		rec := newRecorder(clock)
		s := service.NewScheduler(service.SchedulerOptions{Clock: clock, Jitter: -1})
		mustUpdate(t, s,
			rec.job("same", time.Minute),
			rec.job("longer", time.Minute),
			rec.job("shorter", time.Hour),
			rec.job("to-trigger-only", time.Minute),
			rec.job("removed", time.Minute),
		)
		cancel, wait := startRun(t, s.Run)
		nextOf := func(key string) (time.Duration, bool) {
			n, ok := s.Next(key)
			if !ok {
				return 0, false
			}
			return n.Sub(rec.start), true
		}
		before := map[string]time.Duration{}
		for _, k := range []string{"same", "longer", "shorter"} {
			before[k], _ = nextOf(k)
		}
		clock.Advance(time.Minute) // every first run done (spread < interval)
		clock.Advance(10 * time.Second)
		afterRuns := map[string]time.Duration{}
		for _, k := range []string{"same", "longer", "shorter"} {
			afterRuns[k], _ = nextOf(k)
		}

		var replacedRan bool
		same := rec.job("same", time.Minute)
		sameRun := same.Run
		same.Run = func(ctx context.Context) error { replacedRan = true; return sameRun(ctx) }
		mustUpdate(t, s,
			same,
			rec.job("longer", 2*time.Minute),
			rec.job("shorter", 2*time.Minute),
			rec.job("to-trigger-only", 0),
			rec.job("added", time.Minute),
		)
		type next struct {
			At time.Duration
			OK bool
		}
		got := map[string]next{}
		for _, k := range []string{"same", "longer", "shorter", "to-trigger-only", "removed"} {
			at, ok := nextOf(k)
			got[k] = next{at, ok}
		}
		want := map[string]next{
			"same":            {afterRuns["same"], true},                 // timer kept
			"longer":          {afterRuns["longer"], true},               // the run due already stays
			"shorter":         {before["shorter"] + 2*time.Minute, true}, // last run + new interval
			"to-trigger-only": {0, false},                                // no timer
			"removed":         {0, false},                                // gone
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("next runs after Update (-want +got):\n%s", diff)
		}
		if at, ok := nextOf("added"); !ok || at < 70*time.Second || at >= 70*time.Second+service.DefaultStartupSpread {
			t.Errorf("first run of the added job at +%v (%v), want within the start-up spread of the update at +70s", at, ok)
		}
		if s.Trigger("removed") {
			t.Error("Trigger of a removed job returned true")
		}
		clock.Advance(time.Minute)
		if !replacedRan {
			t.Error("the job's new Run was not used")
		}
		cancel()
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSchedulerUpdateRejectsInvalidJobs(t *testing.T) {
	run := func(context.Context) error { return nil }
	tests := map[string]struct {
		jobs []service.Job
		want string
	}{
		"empty key":         {[]service.Job{{Run: run}}, "job 0 has an empty key"},
		"repeated key":      {[]service.Job{{Key: "a", Run: run}, {Key: "a", Run: run}}, `job "a" is listed twice`},
		"no Run":            {[]service.Job{{Key: "a"}}, `job "a" has no Run`},
		"negative interval": {[]service.Job{{Key: "a", Run: run, Interval: -time.Second}}, `job "a" has a negative interval -1s`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := service.NewScheduler(service.SchedulerOptions{})
			if err := s.Update([]service.Job{{Key: "kept", Run: run}}); err != nil {
				t.Fatal(err)
			}
			err := s.Update(tc.jobs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Update: %v, want an error containing %q", err, tc.want)
			}
			if !s.Trigger("kept") {
				t.Error("a failed Update changed the jobs")
			}
		})
	}
}

func TestSchedulerShutdown(t *testing.T) {
	tests := map[string]struct {
		finishAfter time.Duration // the blocked run returns after this (0: only when cancelled)
		wantErr     error
		wantCtxErr  error // ctx.Err() seen by the run
	}{
		"run finishes within the grace period": {finishAfter: 10 * time.Second, wantCtxErr: nil},
		"run outlives the grace period":        {wantErr: service.ErrGraceExpired, wantCtxErr: context.Canceled},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				rec := newRecorder(clock)
				rec.gate = make(chan struct{})
				s := service.NewScheduler(service.SchedulerOptions{Clock: clock, Grace: 20 * time.Second})
				mustUpdate(t, s, rec.job("apps/prod", time.Minute), rec.job("apps/waiting", 0))
				cancel, wait := startRun(t, s.Run)
				s.Trigger("apps/prod")
				synctest.Wait()
				s.Trigger("apps/prod") // a re-run folded in, dropped by the shutdown
				cancel()
				synctest.Wait()
				if s.Trigger("apps/waiting") {
					t.Error("Trigger during shutdown returned true")
				}
				if tc.finishAfter > 0 {
					clock.Advance(tc.finishAfter)
					rec.gate <- struct{}{}
				} else {
					clock.Advance(20 * time.Second)
				}
				err := wait()
				if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
					t.Fatalf("Run: %v, want %v", err, tc.wantErr)
				}
				if err != nil && !strings.Contains(err.Error(), `"apps/prod"`) {
					t.Errorf("Run: %v does not name the key still running", err)
				}
				synctest.Wait()
				if diff := cmp.Diff([]string{"apps/prod"}, rec.Keys()); diff != "" {
					t.Errorf("runs (-want +got):\n%s", diff)
				}
				rec.mu.Lock()
				ctxErrs := rec.ctxErrs
				rec.mu.Unlock()
				if diff := cmp.Diff([]error{tc.wantCtxErr}, ctxErrs, cmp.Comparer(func(a, b error) bool { return errors.Is(a, b) })); diff != "" {
					t.Errorf("ctx.Err() seen by the run (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestSchedulerLogsFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		logger, logs := newTestLogger()
		s := service.NewScheduler(service.SchedulerOptions{Clock: clock, Logger: logger})
		var runs int
		mustUpdate(t, s,
			service.Job{Key: "fails", Run: func(context.Context) error {
				runs++
				return errors.New("registry unreachable")
			}},
			service.Job{Key: "panics", Run: func(context.Context) error {
				runs++
				panic("boom")
			}},
		)
		cancel, wait := startRun(t, s.Run)
		for range 2 {
			s.Trigger("fails")
			synctest.Wait()
			s.Trigger("panics")
			synctest.Wait()
		}
		cancel()
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if runs != 4 {
			t.Errorf("%d runs, want 4: a failure or panic must not stop later runs", runs)
		}
		want := strings.Repeat(
			"level=ERROR msg=\"scheduled run failed\" key=fails error=\"registry unreachable\"\n"+
				"level=ERROR msg=\"scheduled run panicked\" key=panics panic=boom\n", 2)
		if diff := cmp.Diff(want, logs.String()); diff != "" {
			t.Errorf("logs (-want +got):\n%s", diff)
		}
	})
}

func TestSchedulerCoalescesDueRuns(t *testing.T) {
	// Five jobs run at start; their second runs are due 300ms apart, from
	// +100s (intervals of 100s, 100.3s, ...: a slack of 1/60 of the
	// interval each, about 1.67s, unless Coalesce is less).
	tests := map[string]struct {
		coalesce time.Duration
		slack    time.Duration // how early a run may start
		want     []run         // second runs
	}{
		"default: runs due within 1/60 of the interval start with the first": {
			slack: 100 * time.Second / 60,
			want:  []run{{"a", 100 * time.Second}, {"b", 100 * time.Second}, {"c", 100 * time.Second}, {"d", 100 * time.Second}, {"e", 100 * time.Second}},
		},
		"coalesce 1s": {
			coalesce: time.Second,
			slack:    time.Second,
			want:     []run{{"a", 100 * time.Second}, {"b", 100 * time.Second}, {"c", 100 * time.Second}, {"d", 100 * time.Second}, {"e", 101200 * time.Millisecond}},
		},
		"coalesce 500ms": {
			coalesce: 500 * time.Millisecond,
			slack:    500 * time.Millisecond,
			want:     []run{{"a", 100 * time.Second}, {"b", 100 * time.Second}, {"c", 100600 * time.Millisecond}, {"d", 100600 * time.Millisecond}, {"e", 101200 * time.Millisecond}},
		},
		"no coalescing": {
			coalesce: -1,
			want:     []run{{"a", 100 * time.Second}, {"b", 100300 * time.Millisecond}, {"c", 100600 * time.Millisecond}, {"d", 100900 * time.Millisecond}, {"e", 101200 * time.Millisecond}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clock := newFakeClock()
				rec := newRecorder(clock)
				s := service.NewScheduler(service.SchedulerOptions{Clock: clock, Jitter: -1, StartupSpread: -1, Coalesce: tc.coalesce, Parallelism: 10})
				var jobs []service.Job
				for i, k := range []string{"a", "b", "c", "d", "e"} {
					jobs = append(jobs, rec.job(k, 100*time.Second+time.Duration(i)*300*time.Millisecond))
				}
				mustUpdate(t, s, jobs...)
				cancel, wait := startRun(t, s.Run)
				clock.Advance(0)
				due := map[string]time.Duration{}
				for _, j := range jobs {
					next, ok := s.Next(j.Key)
					if !ok {
						t.Fatalf("Next(%s): no run due after the first", j.Key)
					}
					due[j.Key] = next.Sub(rec.start)
				}
				clock.Advance(2 * time.Minute)
				runs := rec.Runs()
				if len(runs) < len(jobs) {
					t.Fatalf("%d runs, want the first %d and more", len(runs), len(jobs))
				}
				second := runs[len(jobs):]
				slices.SortStableFunc(second, func(a, b run) int { return strings.Compare(a.Key, b.Key) })
				if diff := cmp.Diff(tc.want, second); diff != "" {
					t.Errorf("second runs (-want +got):\n%s", diff)
				}
				// Never late, never earlier than the slack.
				for _, r := range second {
					if r.At > due[r.Key] || r.At < due[r.Key]-tc.slack {
						t.Errorf("%s ran at +%v, due at +%v", r.Key, r.At, due[r.Key])
					}
				}
				cancel()
				if err := wait(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestSchedulerOneTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		rec := newRecorder(clock)
		s := service.NewScheduler(service.SchedulerOptions{Clock: clock, StartupSpread: 5 * time.Minute, Parallelism: 100})
		const n = 1000
		var jobs []service.Job
		for i := range n {
			jobs = append(jobs, rec.job(fmt.Sprintf("apps/repo-%04d", i), 5*time.Minute))
		}
		mustUpdate(t, s, jobs...)
		cancel, wait := startRun(t, s.Run)
		if got := clock.Pending(); got != 1 {
			t.Errorf("%d timers set for %d jobs, want 1", got, n)
		}
		// Two rounds: the first runs spread over 5 minutes, then the
		// interval runs (jittered by 10%: all done by 5m + 5m30s).
		const seconds = 11 * 60
		made := clock.Made()
		for range seconds {
			clock.Advance(time.Second)
			if got := clock.Pending(); got > 1 {
				t.Fatalf("%d timers set at +%v, want at most 1", got, clock.Now().Sub(rec.start))
			}
		}
		if got := len(rec.Runs()); got < 2*n {
			t.Errorf("%d runs in two rounds of %d jobs, want at least %d", got, n, 2*n)
		}
		// Runs due within a second share a wake-up: about one timer a
		// second, not one a run.
		if got := clock.Made() - made; got > seconds+10 {
			t.Errorf("%d timers made for %d runs in 11 minutes, want about one a second", got, len(rec.Runs()))
		}
		cancel()
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSchedulerTriggerGoesFirst: with every slot taken, a triggered run (a
// webhook's scan) starts before the interval runs waiting for a slot, and
// a trigger of a job whose interval run waits moves it ahead of them.
func TestSchedulerTriggerGoesFirst(t *testing.T) {
	// run starts three interval jobs, due in the order of their first
	// offsets (fixed by their keys), one slot for all, triggers trigger
	// once the first runs (unless ""), and returns the runs in order.
	run := func(t *testing.T, trigger string) []string {
		var got []string
		synctest.Test(t, func(t *testing.T) {
			clock := newFakeClock()
			rec := newRecorder(clock)
			rec.gate = make(chan struct{})
			s := service.NewScheduler(service.SchedulerOptions{Clock: clock, Parallelism: 1, StartupSpread: time.Minute, Jitter: -1})
			mustUpdate(t, s, rec.job("x1", time.Hour), rec.job("x2", time.Hour), rec.job("x3", time.Hour), rec.job("hook", 0))
			cancel, wait := startRun(t, s.Run)
			clock.Advance(time.Minute) // every first run due
			synctest.Wait()
			if running := rec.Keys(); len(running) != 1 {
				t.Fatalf("runs started: %v, want one", running)
			}
			runs := 3
			if trigger != "" {
				s.Trigger(trigger)
				if trigger == "hook" {
					runs++
				}
			}
			for range runs {
				rec.gate <- struct{}{}
				synctest.Wait()
			}
			got = rec.Keys()
			cancel()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
		})
		return got
	}
	due := run(t, "") // the order they are due in
	if len(due) != 3 {
		t.Fatalf("interval runs %v, want three", due)
	}
	tests := map[string]struct {
		trigger string
		want    []string
	}{
		"a job without interval":         {trigger: "hook", want: []string{due[0], "hook", due[1], due[2]}},
		"a job whose interval run waits": {trigger: due[2], want: []string{due[0], due[2], due[1]}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, run(t, tc.trigger)); diff != "" {
				t.Errorf("runs (-want +got):\n%s", diff)
			}
		})
	}
}
