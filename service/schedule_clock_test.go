package service_test

import (
	"bytes"
	"log/slog"
	"sync"
	"testing/synctest"
	"time"

	"github.com/hoist-dev/hoist/service"
)

// fakeClock is an service.Clock whose time moves only by Advance. It is
// used inside synctest bubbles: Advance waits, after each timer it fires,
// until every other goroutine of the bubble is blocked, so a test sees the
// effects of each firing (runs started, timers re-armed) deterministically.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers map[*fakeTimer]bool
}

var _ service.Clock = (*fakeClock)(nil)

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), timers: map[*fakeTimer]bool{}}
}

type fakeTimer struct {
	c    *fakeClock
	when time.Time
	seq  int
	ch   chan time.Time
	f    func()
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) service.Timer {
	return c.add(d, &fakeTimer{ch: make(chan time.Time, 1)})
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) service.Timer {
	return c.add(d, &fakeTimer{f: f})
}

func (c *fakeClock) add(d time.Duration, t *fakeTimer) *fakeTimer {
	c.mu.Lock()
	t.c, t.when, t.seq = c, c.now.Add(d), c.seq
	c.seq++
	now := c.now
	if d > 0 {
		c.timers[t] = true
	}
	c.mu.Unlock()
	if d <= 0 {
		t.fire(now)
	}
	return t
}

func (t *fakeTimer) fire(now time.Time) {
	if t.f != nil {
		go t.f()
		return
	}
	select {
	case t.ch <- now:
	default:
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	active := t.c.timers[t]
	delete(t.c.timers, t)
	return active
}

// Pending is the number of timers set and not yet fired or stopped.
func (c *fakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Made is the number of timers made so far.
func (c *fakeClock) Made() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

// Advance moves the time forward by d, firing the timers due on the way in
// order of their deadlines.
func (c *fakeClock) Advance(d time.Duration) {
	synctest.Wait()
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		for t := range c.timers {
			if !t.when.After(target) && (next == nil || t.when.Before(next.when) || t.when.Equal(next.when) && t.seq < next.seq) {
				next = t
			}
		}
		if next == nil {
			c.now = target
			c.mu.Unlock()
			synctest.Wait()
			return
		}
		delete(c.timers, next)
		if next.when.After(c.now) {
			c.now = next.when
		}
		now := c.now
		c.mu.Unlock()
		next.fire(now)
		synctest.Wait()
	}
}

// syncBuffer is a bytes.Buffer for loggers written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newTestLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	h := slog.NewTextHandler(buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	return slog.New(h), buf
}
