package service_test

import (
	"context"
	"testing"

	"github.com/hoist-dev/hoist/service"
)

// BenchmarkSchedulerTrigger is a webhook's path through the Scheduler:
// trigger a job and wait for its run.
func BenchmarkSchedulerTrigger(b *testing.B) {
	s := service.NewScheduler(service.SchedulerOptions{})
	ran := make(chan struct{})
	if err := s.Update([]service.Job{{Key: "apps/podinfo", Run: func(context.Context) error {
		ran <- struct{}{}
		return nil
	}}}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	b.ReportAllocs()
	for b.Loop() {
		s.Trigger("apps/podinfo")
		<-ran
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
