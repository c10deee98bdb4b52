package service_test

import (
	"context"
	"fmt"
	"time"

	"github.com/hoist-dev/hoist/service"
)

// Selections that change together make one run, and one commit, per Git
// repository.
func ExampleBatcher() {
	flushed := make(chan string)
	b := service.NewBatcher(func(ctx context.Context, gitRepo string, policies []string) error {
		flushed <- fmt.Sprintf("one commit to %s for %v", gitRepo, policies)
		return nil
	}, service.BatcherOptions{Window: 50 * time.Millisecond})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()

	for _, p := range []string{"apps:frontend", "apps:backend", "apps:worker"} {
		b.Add("https://git.example.com/fleet.git", p)
	}
	fmt.Println(<-flushed)

	stop()
	fmt.Println("shutdown:", <-done)
	// Output:
	// one commit to https://git.example.com/fleet.git for [apps:frontend apps:backend apps:worker]
	// shutdown: <nil>
}
