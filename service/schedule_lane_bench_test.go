package service

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkLaneStacks compares, for runs whose calls go deep (as an HTTP
// request's or a Git fetch's do), a goroutine started for every run with
// a lane's goroutine taking the next waiting run: a wake-up of 1,000 runs
// over the default 4 lanes. A new goroutine grows its stack anew through
// every run's calls; a lane's goroutine keeps the stack it grew.
func BenchmarkLaneStacks(b *testing.B) {
	const runs = 1000
	for _, each := range []bool{true, false} {
		name := "lane-takes-next"
		if each {
			name = "goroutine-a-run"
		}
		b.Run(name, func(b *testing.B) {
			s := NewScheduler(SchedulerOptions{})
			s.lanes.goroutineEach = each
			var ended sync.WaitGroup
			jobs := make([]Job, runs)
			for i := range jobs {
				jobs[i] = Job{Key: fmt.Sprintf("bench/app%04d", i), Run: func(context.Context) error {
					defer ended.Done()
					deepCall(64)
					return nil
				}}
			}
			if err := s.Update(jobs); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(b.Context())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			cpu := cpuTime()
			b.ReportAllocs()
			for b.Loop() {
				ended.Add(runs)
				for _, j := range jobs {
					s.Trigger(j.Key)
				}
				ended.Wait()
			}
			cpu = cpuTime() - cpu
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N*runs), "cpu-µs/run")
		})
	}
}

// deepCall calls itself n deep with a frame of about 512 bytes each (32
// KB in all at 64): the stack a run's calls grow.
//
//go:noinline
func deepCall(n int) byte {
	var frame [512]byte
	frame[n%len(frame)] = byte(n)
	if n == 0 {
		return frame[0]
	}
	return deepCall(n-1) + frame[n%len(frame)]
}
