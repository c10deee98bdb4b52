package controller

import (
	"context"
	"errors"
	"testing"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/service"
)

var _ service.Source = (*source)(nil)

// TestSourceDeliversEachPublish: Load gives the empty configuration; a set
// published before Run starts is applied when it does; sets published
// while an apply runs are coalesced into the latest; each publish's
// channel is closed once it (or a later set) was applied; Run ends with
// ctx.
func TestSourceDeliversEachPublish(t *testing.T) {
	src := newSource()
	first, err := src.Load()
	if err != nil || first == nil || len(first.Repositories) != 0 {
		t.Fatalf("Load = %v, %v; want the empty configuration", first, err)
	}
	a, b, c := &config.Set{}, &config.Set{}, &config.Set{}
	doneA := src.publish(a)

	applied := make(chan *config.Set)
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	runErr := make(chan error, 1)
	go func() {
		runErr <- src.Run(ctx, func(set *config.Set) {
			applied <- set
			<-release
		})
	}()

	if got := <-applied; got != a {
		t.Fatalf("first apply got %p, want the set published before Run (%p)", got, a)
	}
	doneB := src.publish(b) // while a's apply runs
	doneC := src.publish(c)
	select {
	case <-doneA:
		t.Fatal("a's channel closed before its apply returned")
	default:
	}
	release <- struct{}{}
	<-doneA
	if got := <-applied; got != c {
		t.Fatalf("second apply got %p, want the latest set (%p), b (%p) skipped", got, c, b)
	}
	release <- struct{}{}
	<-doneB
	<-doneC

	cancel()
	if err := <-runErr; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
}
