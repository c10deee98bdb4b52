package webhook

import (
	"context"
	"sync"
)

// Coalescer folds a storm of rescan requests: per key (an ImageRepository's
// NAMESPACE/NAME, say), at most one run is in flight and at most one more is
// pending. A request that arrives while a run is in flight makes one pending
// run, because the run in flight may have listed the tags before the push
// that prompted the request; requests that arrive while a run is already
// pending are folded into it, since it starts after them. Different keys run
// in parallel; bounding that is the run function's business.
//
// The zero value is not usable; build one with NewCoalescer. It is safe for
// concurrent use.
type Coalescer struct {
	run func(ctx context.Context, key string)

	mu      sync.Mutex
	pending map[string]bool // keys with a run in flight: whether another is pending
	active  int             // goroutines running
	idle    chan struct{}   // closed when active drops to 0; nil when nobody waits
}

// Coalesced says what Trigger did with a request.
type Coalesced int

// The answers of Trigger.
const (
	// Started: no run was in flight for the key; one started.
	Started Coalesced = iota
	// Queued: a run was in flight; another will start when it ends.
	Queued
	// Folded: a run was in flight and another pending; the pending one
	// covers this request.
	Folded
	// Dropped: ctx was done; nothing will run for this request.
	Dropped
)

// String returns the answer's name in lower case, for logs and metrics.
func (c Coalesced) String() string {
	switch c {
	case Started:
		return "started"
	case Queued:
		return "queued"
	case Folded:
		return "folded"
	case Dropped:
		return "dropped"
	}
	return "unknown"
}

// NewCoalescer returns a Coalescer that calls run for each run of a key.
// run gets the context of the Trigger call that started its goroutine; a
// pending run is skipped when that context is done by then.
func NewCoalescer(run func(ctx context.Context, key string)) *Coalescer {
	return &Coalescer{run: run, pending: make(map[string]bool)}
}

// Trigger asks for a run of key. It never blocks on a run: the run happens
// in a goroutine, with ctx, which must outlive the request that prompted it
// (pass the service's context, not an HTTP request's).
func (c *Coalescer) Trigger(ctx context.Context, key string) Coalesced {
	if ctx.Err() != nil {
		return Dropped
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if pending, inFlight := c.pending[key]; inFlight {
		if pending {
			return Folded
		}
		c.pending[key] = true
		return Queued
	}
	c.pending[key] = false
	c.active++
	go c.loop(ctx, key)
	return Started
}

// loop runs key until no run is pending, or ctx is done.
func (c *Coalescer) loop(ctx context.Context, key string) {
	for {
		c.run(ctx, key)
		c.mu.Lock()
		if !c.pending[key] || ctx.Err() != nil {
			delete(c.pending, key)
			c.active--
			if c.active == 0 && c.idle != nil {
				close(c.idle)
				c.idle = nil
			}
			c.mu.Unlock()
			return
		}
		c.pending[key] = false
		c.mu.Unlock()
	}
}

// Wait blocks until no run is in flight or pending, or ctx is done (then it
// returns ctx's error). Runs triggered while it waits are waited for too.
func (c *Coalescer) Wait(ctx context.Context) error {
	c.mu.Lock()
	if c.active == 0 {
		c.mu.Unlock()
		return nil
	}
	if c.idle == nil {
		c.idle = make(chan struct{})
	}
	idle := c.idle
	c.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// InFlight returns the number of keys with a run in flight.
func (c *Coalescer) InFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}
