package controller

import (
	"context"
	"sync"

	"github.com/hoist-dev/hoist/config"
)

// source is the service's Source (service.Source): the configuration the
// reconcilers built from the objects of the cache, handed to the service's
// loop one at a time. A reconciler that publishes a configuration waits
// until the service applied it, so that what it asks next of the service
// (a rescan, a run) finds the objects it was built from.
type source struct {
	mu      sync.Mutex
	set     *config.Set
	gen     uint64 // of set
	applied uint64 // the last gen applied
	waiters []waiter
	// wake has a value when a set was published that Run has not applied.
	wake chan struct{}
}

// waiter is a reconciler waiting for the apply of gen.
type waiter struct {
	gen  uint64
	done chan struct{}
}

func newSource() *source {
	return &source{set: &config.Set{}, wake: make(chan struct{}, 1)}
}

// Load returns the configuration published last: none, when the
// controller starts, before its cache is read.
func (s *source) Load() (*config.Set, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set, nil
}

// Run applies each configuration published, the latest one when several
// were published meanwhile, until ctx is done.
func (s *source) Run(ctx context.Context, apply func(*config.Set)) error {
	for {
		s.mu.Lock()
		set, gen := s.set, s.gen
		pending := gen > s.applied
		s.mu.Unlock()
		if pending {
			apply(set)
			s.done(gen)
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		}
	}
}

// done records that gen was applied and releases its waiters and those of
// the sets it replaced.
func (s *source) done(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied = gen
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if w.gen <= gen {
			close(w.done)
			continue
		}
		kept = append(kept, w)
	}
	s.waiters = kept
}

// publish makes set the configuration, and returns a channel closed once
// the service applied it (or a later one).
func (s *source) publish(set *config.Set) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	s.set = set
	w := waiter{gen: s.gen, done: make(chan struct{})}
	s.waiters = append(s.waiters, w)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return w.done
}
