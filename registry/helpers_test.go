package registry_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/registry"
)

// fakeClock never waits: Sleep advances Now and records the wait.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// newClient builds a client that reads no Docker config of the machine,
// waits on a fake clock, and has no rate limit unless opts set one.
func newClient(t testing.TB, clock registry.Clock, opts ...registry.Option) *registry.Client {
	t.Helper()
	base := []registry.Option{
		registry.WithClock(clock),
		registry.WithDockerConfigDir(t.TempDir()),
		registry.WithRateLimit(0, 0),
		registry.WithRequestTimeout(5 * time.Second),
	}
	c, err := registry.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
