package service

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultWindow is the default BatcherOptions.Window.
const DefaultWindow = 5 * time.Second

// BatcherOptions configures a Batcher. The zero value gives the defaults.
type BatcherOptions struct {
	// Window is how long a batch waits for more items: it is flushed once
	// Window has passed since its last item, and never later than MaxWait
	// after its first. Default: DefaultWindow (5s); negative: flush as soon
	// as a slot is free (items that arrive during a flush of the same key
	// still make one batch).
	Window time.Duration
	// MaxWait caps the wait of a batch, counted from its first item, so that
	// a steady trickle of items cannot hold it back. MaxWait equal to Window
	// flushes exactly Window after the first item. Default: 4×Window.
	MaxWait time.Duration
	// Parallelism bounds flushes in progress at once, over all keys.
	// Default: DefaultParallelism (4).
	Parallelism int
	// Clock is the time source. Default: SystemClock.
	Clock Clock
	// Logger receives failed flushes and batches dropped at shutdown.
	// Default: discard.
	Logger *slog.Logger
	// Grace is how long Run waits, after its context is done, for flushes
	// in progress to return. Default: DefaultGrace (25s).
	Grace time.Duration
}

func (o *BatcherOptions) setDefaults() {
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 4 * max(o.Window, 0)
	}
	if o.Parallelism <= 0 {
		o.Parallelism = DefaultParallelism
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
}

// Batcher gathers items per key, such as the policies whose selection
// changed per Git repository, and hands each batch to one flush, so that
// changes that land together make one commit. Flushes of one key never
// overlap (items added during a flush make the next batch); flushes of
// different keys run in parallel up to Parallelism. Route every write to a
// Git repository through one Batcher (AddNow for runs that should not wait)
// so that they are serialised. It is safe for concurrent use.
type Batcher[T any] struct {
	mu      sync.Mutex
	o       BatcherOptions
	flush   func(ctx context.Context, key string, items []T) error
	lanes   lanes
	batches map[string]*batch[T]
	started bool
	stopped bool
}

type batch[T any] struct {
	items []T
	first time.Time
	timer Timer
	gen   uint64
	due   bool // asked lanes for a flush
	// urgent: an item came by Add (news, as a changed selection), not
	// only by AddNow (an interval run): its flush goes first.
	urgent bool
}

// NewBatcher returns a Batcher that calls flush with each batch. flush's
// error is logged (with the key and the number of items); the items are not
// retried, since the next interval run of the automation picks them up.
// Start it with Run.
func NewBatcher[T any](flush func(ctx context.Context, key string, items []T) error, o BatcherOptions) *Batcher[T] {
	o.setDefaults()
	b := &Batcher[T]{o: o, flush: flush, batches: map[string]*batch[T]{}}
	b.lanes.init(&b.mu, o.Parallelism, o.Logger, "batch flush", nil, b.begin, func(string) {})
	return b
}

// Add puts item into the batch of key, to be flushed after the window. It
// reports false, dropping item, when the Batcher has stopped. Its flush is
// urgent: it goes before the flushes waiting for a slot that AddNow alone
// asked for.
func (b *Batcher[T]) Add(key string, item T) bool { return b.add(key, item, false) }

// AddNow puts item into the batch of key and asks for the flush without
// waiting for the window, as for an interval run. The flush still waits for
// one of key in progress and for a free slot. It reports false when the
// Batcher has stopped.
func (b *Batcher[T]) AddNow(key string, item T) bool { return b.add(key, item, true) }

func (b *Batcher[T]) add(key string, item T, now bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return false
	}
	bt := b.batches[key]
	if bt == nil {
		bt = &batch[T]{first: b.o.Clock.Now()}
		b.batches[key] = bt
	}
	bt.items = append(bt.items, item)
	if !now && !bt.urgent {
		bt.urgent = true
		if bt.due {
			b.lanes.requestLocked(key, true) // the flush asked for goes first now
		}
	}
	if bt.due {
		return true // joins the flush already asked for
	}
	t := b.o.Clock.Now()
	wait := min(b.o.Window, bt.first.Add(b.o.MaxWait).Sub(t))
	if now || wait <= 0 {
		b.dueLocked(key, bt)
		return true
	}
	b.stopTimerLocked(bt)
	g := bt.gen
	bt.timer = b.o.Clock.AfterFunc(wait, func() { b.fire(key, bt, g) })
	return true
}

func (b *Batcher[T]) stopTimerLocked(bt *batch[T]) {
	bt.gen++
	if bt.timer != nil {
		bt.timer.Stop()
		bt.timer = nil
	}
}

func (b *Batcher[T]) dueLocked(key string, bt *batch[T]) {
	b.stopTimerLocked(bt)
	bt.due = true
	b.lanes.requestLocked(key, bt.urgent)
}

func (b *Batcher[T]) fire(key string, bt *batch[T], gen uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped || b.batches[key] != bt || bt.gen != gen {
		return
	}
	b.dueLocked(key, bt)
}

// begin is called by lanes, locked: it takes the batch of key.
func (b *Batcher[T]) begin(key string) (func(context.Context), bool) {
	bt := b.batches[key]
	if bt == nil || len(bt.items) == 0 {
		return nil, false
	}
	b.stopTimerLocked(bt)
	delete(b.batches, key)
	items, flush, logger := bt.items, b.flush, b.o.Logger
	return func(ctx context.Context) {
		if err := flush(ctx, key, items); err != nil {
			logger.LogAttrs(ctx, slog.LevelError, "batch flush failed",
				slog.String("key", key), slog.Int("items", len(items)), slog.String("error", err.Error()))
		}
	}, true
}

// Run flushes batches until ctx is done. Then it stops taking items,
// drops the batches not yet flushed (logging each), and waits up to the
// grace period for flushes in progress. It returns nil after a clean
// shutdown, or an error wrapping ErrGraceExpired.
func (b *Batcher[T]) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.started {
		b.mu.Unlock()
		return fmt.Errorf("batcher: %w", ErrAlreadyRunning)
	}
	b.started = true
	b.lanes.openLocked(ctx)
	b.mu.Unlock()

	<-ctx.Done()

	b.mu.Lock()
	b.stopped = true
	for key, bt := range b.batches {
		b.stopTimerLocked(bt)
		delete(b.batches, key)
		b.o.Logger.LogAttrs(ctx, slog.LevelWarn, "batch dropped at shutdown", slog.String("key", key), slog.Int("items", len(bt.items)))
	}
	b.mu.Unlock()
	if err := b.lanes.shutdown(b.o.Clock, b.o.Grace); err != nil {
		return fmt.Errorf("batcher: %w", err)
	}
	return nil
}
