package service

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSchedulerWakeups runs 10,000 jobs that do nothing on the wall
// clock, at 10-second intervals (a round is 10,000 runs, 1,000 a second),
// and reports the CPU the process spends per run, the timers made and the
// wake-ups per round:
//
//   - per-job-timers: one runtime timer per job, stopped and made again
//     at each run (the Scheduler before it had one timer; kept below as
//     perJobScheduler, on the same lanes);
//   - one-timer: the Scheduler without coalescing (Coalesce < 0);
//   - one-timer-coalesced: the Scheduler with the default Coalesce, so
//     that runs due within 1/100 of the interval (100ms here) share a
//     wake-up. At 5-minute intervals the slack is 1s (33 runs a wake-up
//     at 10,000 repositories); here it is 100ms (100 runs a wake-up).
//
// Each iteration is a round; the first round (the start-up spread) is not
// measured. Run it with -benchtime=3x.
func BenchmarkSchedulerWakeups(b *testing.B) {
	const (
		jobs     = 10_000
		interval = 10 * time.Second
	)
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, clock Clock, jobs []Job) error
	}{
		{"per-job-timers", func(ctx context.Context, clock Clock, jobs []Job) error {
			return newPerJobScheduler(clock, jobs).run(ctx)
		}},
		{"one-timer", func(ctx context.Context, clock Clock, jobs []Job) error {
			s := NewScheduler(SchedulerOptions{Clock: clock, StartupSpread: interval, Coalesce: -1})
			if err := s.Update(jobs); err != nil {
				return err
			}
			return s.Run(ctx)
		}},
		{"one-timer-coalesced", func(ctx context.Context, clock Clock, jobs []Job) error {
			s := NewScheduler(SchedulerOptions{Clock: clock, StartupSpread: interval})
			if err := s.Update(jobs); err != nil {
				return err
			}
			return s.Run(ctx)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var runs atomic.Int64
			round := make(chan struct{}, 1)
			list := make([]Job, jobs)
			for i := range list {
				list[i] = Job{Key: fmt.Sprintf("bench/app%05d", i), Interval: interval, Run: func(context.Context) error {
					if runs.Add(1)%jobs == 0 {
						round <- struct{}{}
					}
					return nil
				}}
			}
			clock := &countingClock{}
			ctx, cancel := context.WithCancel(b.Context())
			done := make(chan error, 1)
			go func() { done <- tc.run(ctx, clock, list) }()
			<-round // the start-up spread
			timers, wakeups := clock.timers.Load(), clock.wakeups.Load()
			cpu := cpuTime()
			b.ReportAllocs()
			for b.Loop() {
				<-round
			}
			cpu = cpuTime() - cpu
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			n := float64(b.N)
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/(n*jobs), "cpu-µs/run")
			b.ReportMetric(float64(clock.timers.Load()-timers)/n, "timers/round")
			b.ReportMetric(float64(clock.wakeups.Load()-wakeups)/n, "wakeups/round")
		})
	}
}

// countingClock is the wall clock, counting the timers made by AfterFunc
// and their callbacks.
type countingClock struct {
	SystemClock
	timers, wakeups atomic.Int64
}

func (c *countingClock) AfterFunc(d time.Duration, f func()) Timer {
	c.timers.Add(1)
	return c.SystemClock.AfterFunc(d, func() { c.wakeups.Add(1); f() })
}

// perJobScheduler is how the Scheduler armed runs before it had one timer:
// a timer per job, stopped and made again at each run (its arming code,
// for fixed jobs; the runs go through the same lanes).
type perJobScheduler struct {
	mu    sync.Mutex
	clock Clock
	lanes lanes
	jobs  map[string]*perJobEntry
	s     *Scheduler // for firstOffset and jittered
}

type perJobEntry struct {
	job   Job
	timer Timer
	gen   uint64
}

func newPerJobScheduler(clock Clock, jobs []Job) *perJobScheduler {
	p := &perJobScheduler{clock: clock, jobs: map[string]*perJobEntry{}}
	p.s = NewScheduler(SchedulerOptions{Clock: clock, StartupSpread: jobs[0].Interval})
	for _, j := range jobs {
		p.jobs[j.Key] = &perJobEntry{job: j}
	}
	p.lanes.init(&p.mu, DefaultParallelism, p.s.o.Logger, "scheduled run", nil, p.begin, p.end)
	return p
}

func (p *perJobScheduler) run(ctx context.Context) error {
	p.mu.Lock()
	for _, e := range p.jobs {
		p.armLocked(e, p.s.firstOffset(e.job))
	}
	p.lanes.openLocked(ctx)
	p.mu.Unlock()
	<-ctx.Done()
	p.mu.Lock()
	for _, e := range p.jobs {
		p.disarmLocked(e)
	}
	p.mu.Unlock()
	return p.lanes.shutdown(p.clock, DefaultGrace)
}

func (p *perJobScheduler) armLocked(e *perJobEntry, d time.Duration) {
	p.disarmLocked(e)
	g, key := e.gen, e.job.Key
	e.timer = p.clock.AfterFunc(max(d, 0), func() { p.fire(key, e, g) })
}

func (p *perJobScheduler) disarmLocked(e *perJobEntry) {
	e.gen++
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
}

func (p *perJobScheduler) fire(key string, e *perJobEntry, gen uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.gen != gen {
		return
	}
	e.timer = nil
	p.lanes.requestLocked(key, false)
}

func (p *perJobScheduler) begin(key string) (func(context.Context), bool) {
	e := p.jobs[key]
	p.disarmLocked(e)
	run := e.job.Run
	return func(ctx context.Context) { _ = run(ctx) }, true
}

func (p *perJobScheduler) end(key string) {
	e := p.jobs[key]
	p.armLocked(e, p.s.jittered(e.job.Interval))
}
