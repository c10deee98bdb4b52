package service

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSchedulerIdleScans is the service's round of rescans at rest,
// on the wall clock: 10,000 jobs at 5-minute intervals (33 runs a second,
// the round spread over the interval from the start), each an HTTP GET of
// a tag list of 1,000 tags (17 KB) over a client of 4 connections, as a
// rescan whose list did not change is. It reports the CPU of the process
// per run and as a percentage of one core over a window of the round
// (HOIST_IDLE_SCANS_WINDOW, default 1m, from 10s after the start), and the
// wake-ups a second:
//
//   - coalesce-1s: runs due within 1s share a wake-up (the default before);
//   - coalesce-default: DefaultCoalesce, at most min(1/60 of the
//     interval, 5s).
//
// Between wake-ups the process sleeps; each wake-up rouses its threads and
// their cold caches again, which costs more than the runs' own work at
// this pace (BenchmarkScale10k's idle round: 1.05 % of a core with 1s,
// 0.88 % with 5s). The lists are served from memory by an httptest server
// in this process (its CPU is in the figures, the same in both cases): it
// measures the wake-ups, not a registry (startupTags, as BenchmarkStartup
// uses). It runs once per case whatever b.N is.
func BenchmarkSchedulerIdleScans(b *testing.B) {
	window := time.Minute
	if s := os.Getenv("HOIST_IDLE_SCANS_WINDOW"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			b.Fatalf("HOIST_IDLE_SCANS_WINDOW=%q: want a positive duration such as 60s", s)
		}
		window = d
	}
	const (
		jobs     = 10_000
		interval = 5 * time.Minute
	)
	tags := newStartupTags() // the startup benchmark's in-memory tag lists
	srv := httptest.NewServer(tags)
	defer srv.Close()
	for _, tc := range []struct {
		name     string
		coalesce time.Duration
	}{
		{"coalesce-1s", time.Second},
		{"coalesce-default", 0},
	} {
		b.Run(tc.name, func(b *testing.B) {
			transport := http.DefaultTransport.(*http.Transport).Clone()
			transport.MaxIdleConnsPerHost = DefaultParallelism
			defer transport.CloseIdleConnections()
			client := &http.Client{Transport: transport}
			var runs, failures atomic.Int64
			list := make([]Job, jobs)
			for i := range list {
				url := fmt.Sprintf("%s/v2/team/app%05d/tags/list", srv.URL, i)
				list[i] = Job{Key: fmt.Sprintf("bench/app%05d", i), Interval: interval, Run: func(ctx context.Context) error {
					runs.Add(1)
					req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
					if err != nil {
						return err
					}
					resp, err := client.Do(req)
					if err != nil {
						failures.Add(1)
						return err
					}
					_, err = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s: %s", url, resp.Status)
					}
					if err != nil {
						failures.Add(1)
					}
					return err
				}}
			}
			clock := &countingClock{}
			s := NewScheduler(SchedulerOptions{Clock: clock, StartupSpread: interval, Coalesce: tc.coalesce})
			if err := s.Update(list); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(b.Context())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			// The window waits on the wall clock: the round is paced by
			// it, whatever the machine.
			time.Sleep(10 * time.Second)
			runs0, wakeups0, cpu0, t0 := runs.Load(), clock.wakeups.Load(), cpuTime(), time.Now()
			time.Sleep(window)
			n, wakeups, cpu, wall := runs.Load()-runs0, clock.wakeups.Load()-wakeups0, cpuTime()-cpu0, time.Since(t0)
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			if f := failures.Load(); f > 0 {
				b.Fatalf("%d requests failed", f)
			}
			if n == 0 {
				b.Fatal("no run in the window")
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(n), "cpu-µs/run")
			b.ReportMetric(100*float64(cpu)/float64(wall), "cpu-%")
			b.ReportMetric(float64(n)/wall.Seconds(), "runs/s")
			b.ReportMetric(float64(wakeups)/wall.Seconds(), "wakeups/s")
		})
	}
}
