package controller

import (
	"context"
	"fmt"
	"sync/atomic"

	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// changes counts the watch events that change the configuration (an
// object created or deleted, its spec, labels or annotations changed), so
// that a reconcile reads the cache into a configuration only when one
// came since the last: most reconciles are the service's (a scan, a run)
// and find nothing new, and reading 1,300 objects each time made the
// reconcilers the bottleneck (1,000 policies took nearly three minutes to
// get their status). The informer updates the cache before it calls the
// predicates, so a count seen before a read is in what that read returns.
type changes struct {
	seen atomic.Uint64
	// synced is the count of the last sync that read the cache; 0 (no
	// sync yet) never equals a count seen, which starts at 1.
	synced atomic.Uint64
}

func newChanges() *changes {
	c := &changes{}
	c.seen.Store(1)
	return c
}

// predicate passes the events of inner and counts them.
func (c *changes) predicate(inner predicate.Predicate) predicate.Predicate {
	count := func(ok bool) bool {
		if ok {
			c.seen.Add(1)
		}
		return ok
	}
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return count(inner.Create(e)) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return count(inner.Update(e)) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return count(inner.Delete(e)) },
		GenericFunc: func(e event.GenericEvent) bool { return count(inner.Generic(e)) },
	}
}

// syncIfChanged is sync when a change came since the last sync that read
// the cache; otherwise it only waits until the service applied what was
// published last.
func (c *changes) syncIfChanged(ctx context.Context, d *documents, sync func(context.Context) error) error {
	n := c.seen.Load()
	if n == c.synced.Load() {
		d.mu.Lock()
		applied := d.applied
		d.mu.Unlock()
		select {
		case <-applied:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("waiting for the service to apply the objects: %w", ctx.Err())
		}
	}
	if err := sync(ctx); err != nil {
		return err
	}
	// A sync that read count n saw every change up to n; a later one may
	// have stored a larger count already.
	for {
		old := c.synced.Load()
		if old >= n || c.synced.CompareAndSwap(old, n) {
			return nil
		}
	}
}
