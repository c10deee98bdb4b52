package automation_test

import (
	"context"
	"testing"

	"github.com/hoist-dev/hoist/automation"
)

// BenchmarkSchedulerTrigger is a webhook's path through the Scheduler:
// trigger a job and wait for its run.
func BenchmarkSchedulerTrigger(b *testing.B) {
	s := automation.NewScheduler(automation.SchedulerOptions{})
	ran := make(chan struct{})
	if err := s.Update([]automation.Job{{Key: "apps/podinfo", Run: func(context.Context) error {
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
