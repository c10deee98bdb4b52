package service_test

import (
	"context"
	"fmt"
	"time"

	"github.com/hoist-dev/hoist/service"
)

// A Scheduler scans each repository on its interval; a webhook triggers a
// scan at once.
func ExampleScheduler() {
	s := service.NewScheduler(service.SchedulerOptions{Parallelism: 4})
	scanned := make(chan string, 1)
	err := s.Update([]service.Job{{
		Key:      "apps/podinfo",
		Interval: 5 * time.Minute,
		Run: func(ctx context.Context) error {
			scanned <- "scanned apps/podinfo"
			return nil
		},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()

	s.Trigger("apps/podinfo") // a webhook named the repository
	fmt.Println(<-scanned)

	stop() // SIGTERM: runs in progress get the grace period
	fmt.Println("shutdown:", <-done)
	// Output:
	// scanned apps/podinfo
	// shutdown: <nil>
}
