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

// Jobs of different groups do not share their slots: with one slot per
// group, the scan of ghcr.io runs while the one of a slow Docker Hub is
// stuck, and the second Docker Hub scan waits for the first.
func ExampleJob_group() {
	s := service.NewScheduler(service.SchedulerOptions{Parallelism: 1})
	slow := make(chan struct{})
	scanned := make(chan string, 3)
	scan := func(key, host string, wait bool) service.Job {
		return service.Job{Key: key, Group: host, Run: func(ctx context.Context) error {
			if wait {
				<-slow // Docker Hub takes its time
			}
			scanned <- "scanned " + key
			return nil
		}}
	}
	err := s.Update([]service.Job{
		scan("apps/web", "index.docker.io", true),
		scan("apps/db", "index.docker.io", false),
		scan("apps/api", "ghcr.io", false),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()

	s.Trigger("apps/web") // takes Docker Hub's slot
	s.Trigger("apps/db")  // waits for it
	s.Trigger("apps/api") // ghcr.io has a slot of its own
	fmt.Println(<-scanned)
	close(slow)
	fmt.Println(<-scanned)
	fmt.Println(<-scanned)

	stop()
	fmt.Println("shutdown:", <-done)
	// Output:
	// scanned apps/api
	// scanned apps/web
	// scanned apps/db
	// shutdown: <nil>
}
