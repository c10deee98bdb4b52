package registry

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// hostLimits holds one limiter per registry host, shared by every repository
// on that host and by both the verified and the insecure transport.
type hostLimits struct {
	clock          Clock
	waitObserver   func(host string, d time.Duration)
	rps            float64
	burst          int
	maxConcurrency int

	mu    sync.Mutex
	hosts map[string]*hostLimiter
}

func newHostLimits(o *options) *hostLimits {
	return &hostLimits{
		clock:          o.clock,
		waitObserver:   o.waitObserver,
		rps:            o.rps,
		burst:          o.burst,
		maxConcurrency: o.maxConcurrency,
		hosts:          make(map[string]*hostLimiter),
	}
}

func (h *hostLimits) get(host string) *hostLimiter {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.hosts[host]
	if !ok {
		l = &hostLimiter{
			clock:  h.clock,
			rate:   h.rps,
			burst:  float64(h.burst),
			tokens: float64(h.burst),
			slots:  make(chan struct{}, h.maxConcurrency),
		}
		h.hosts[host] = l
	}
	return l
}

// hostLimiter is a token bucket, a pull pacer fed by Docker Hub's
// ratelimit headers, and a concurrency cap for one host.
type hostLimiter struct {
	clock Clock
	slots chan struct{}

	mu     sync.Mutex
	rate   float64 // tokens per second; <= 0 means unlimited
	burst  float64
	tokens float64
	last   time.Time // of the last refill

	// pace is the interval to keep between counted pulls (GET of a
	// manifest) once the registry says few are left; pullAt is when the
	// next one may start.
	pace    time.Duration
	pullAt  time.Time
	pullWhy string
}

// reserve takes a token (and a pull turn when counted) and returns how long
// the caller must wait before using it, with the reason of the longest wait.
func (l *hostLimiter) reserve(counted bool) (time.Duration, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	var wait time.Duration
	why := ""
	if l.rate > 0 {
		if !l.last.IsZero() {
			l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		}
		l.last = now
		l.tokens--
		if l.tokens < 0 {
			wait = time.Duration(-l.tokens / l.rate * float64(time.Second))
			why = fmt.Sprintf("client rate limit of %g requests/s", l.rate)
		}
	}
	if counted && l.pace > 0 {
		start := now.Add(wait)
		if l.pullAt.After(start) {
			start = l.pullAt
		}
		l.pullAt = start.Add(l.pace)
		if w := start.Sub(now); w > wait {
			wait, why = w, l.pullWhy
		}
	}
	return wait, why
}

// unreserve gives back a token that was not used.
func (l *hostLimiter) unreserve() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rate > 0 {
		l.tokens = min(l.burst, l.tokens+1)
	}
}

// observe reads Docker Hub's RateLimit-Limit and RateLimit-Remaining headers
// ("100;w=21600": 100 pulls per 21600 seconds) and, when few pulls are left,
// spreads the remaining ones over the window so that the scan slows down
// before the wall instead of hitting it.
func (l *hostLimiter) observe(h http.Header) {
	remaining, window, ok := parseRateLimitHeader(h.Get("RateLimit-Remaining"))
	if !ok {
		return
	}
	limit, _, hasLimit := parseRateLimitHeader(h.Get("RateLimit-Limit"))
	low := int64(lowWater)
	if hasLimit && limit/10 > low {
		low = limit / 10
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if remaining > low || window <= 0 {
		l.pace, l.pullWhy = 0, ""
		return
	}
	l.pace = window / time.Duration(remaining+1)
	l.pullWhy = fmt.Sprintf("registry pull limit: %d left for %v", remaining, window)
	// The next pull comes one interval after this answer at the earliest.
	if next := l.clock.Now().Add(l.pace); next.After(l.pullAt) {
		l.pullAt = next
	}
}

// lowWater is the number of remaining pulls (at least; 10% of the limit when
// the registry states it) under which pulls are paced.
const lowWater = 10

// parseRateLimitHeader reads "N" or "N;w=SECONDS" (draft IETF RateLimit
// header fields, as Docker Hub sends them).
func parseRateLimitHeader(v string) (n int64, window time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, 0, false
	}
	first, params, _ := strings.Cut(v, ";")
	n, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	if err != nil || n < 0 {
		return 0, 0, false
	}
	for p := range strings.SplitSeq(params, ";") {
		k, val, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found || strings.TrimSpace(k) != "w" {
			continue
		}
		secs, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil || secs < 0 || secs > int64(maxRetryAfter/time.Second)*365 {
			return 0, 0, false
		}
		window = time.Duration(secs) * time.Second
	}
	return n, window, true
}

// limitTransport applies the host's limiter to each attempt: a token (and a
// paced turn for counted pulls), then a concurrency slot held until the
// attempt, body included, is done.
type limitTransport struct {
	inner  http.RoundTripper
	limits *hostLimits
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	l := t.limits.get(req.URL.Host)
	counted := req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/manifests/")
	wait, why := l.reserve(counted)
	if wait > 0 {
		if d, ok := ctx.Deadline(); ok && wait > time.Until(d) {
			l.unreserve()
			return nil, fmt.Errorf("%w: waiting %v for the %s would pass the deadline", ErrRateLimited, wait.Round(time.Millisecond), why)
		}
		if f := t.limits.waitObserver; f != nil {
			f(req.URL.Host, wait)
		}
		if err := t.limits.clock.Sleep(ctx, wait); err != nil {
			l.unreserve()
			return nil, err
		}
	}
	if err := acquire(ctx, l.slots); err != nil {
		return nil, err
	}
	defer func() { <-l.slots }()
	resp, err := t.inner.RoundTrip(req)
	if resp != nil {
		l.observe(resp.Header)
	}
	return resp, err
}

func acquire(ctx context.Context, slots chan struct{}) error {
	select {
	case slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
