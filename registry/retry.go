package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// maxBody bounds every response body this client reads: tag list pages,
// manifests, image configs and tokens are small; layers are never fetched.
const maxBody = 16 << 20

// errAttemptTimeout marks an attempt that passed WithRequestTimeout.
var errAttemptTimeout = errors.New("request attempt timed out")

// retryTransport retries a request after a 429, a 5xx, a response cut
// mid-body, a stalled response or a reset connection (as reported by
// attemptTransport below it), with exponential backoff and jitter, honouring
// Retry-After, never past the context's deadline.
type retryTransport struct {
	inner       http.RoundTripper
	clock       Clock
	logger      *slog.Logger
	maxRetries  int
	backoffBase time.Duration
	backoffMax  time.Duration
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		resp, err := t.attempt(req, attempt)
		if ctx.Err() != nil {
			if err == nil {
				return resp, nil
			}
			return nil, err
		}
		retry, wait := t.classify(resp, err, attempt)
		if !retry || attempt >= t.maxRetries || (req.Body != nil && req.GetBody == nil) {
			if err != nil && attempt > 0 {
				err = fmt.Errorf("after %s: %w", attempts(attempt+1), err)
			}
			return resp, err
		}
		if d, ok := ctx.Deadline(); ok && wait > time.Until(d) {
			// Waiting would pass the scan's deadline: give up now with what
			// the registry said, rather than sleep into a timeout.
			if err != nil {
				return nil, fmt.Errorf("after %s, retrying in %v would pass the deadline: %w", attempts(attempt+1), wait.Round(time.Millisecond), err)
			}
			return resp, nil
		}
		t.logger.LogAttrs(ctx, slog.LevelDebug, "registry request retry",
			slog.String("method", req.Method), slog.String("url", redactURL(req.URL)),
			slog.Int("attempt", attempt+1), slog.Duration("wait", wait))
		if err := t.clock.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// attempt sends req once, replaying its body for a retry.
func (t *retryTransport) attempt(req *http.Request, n int) (*http.Response, error) {
	if n == 0 || req.Body == nil || req.GetBody == nil {
		return t.inner.RoundTrip(req)
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Body = body
	return t.inner.RoundTrip(r)
}

// attemptTransport bounds one attempt (after the limiter let it through) by
// a timeout and reads its body completely, so that a stalled or cut response
// is an error of the attempt, which retryTransport retries.
type attemptTransport struct {
	inner   http.RoundTripper
	timeout time.Duration
}

func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeoutCause(req.Context(), t.timeout, errAttemptTimeout)
	defer cancel()
	timedOut := func() bool {
		return errors.Is(context.Cause(ctx), errAttemptTimeout) && req.Context().Err() == nil
	}
	resp, err := t.inner.RoundTrip(req.WithContext(ctx))
	if err != nil {
		if timedOut() {
			return nil, fmt.Errorf("%w after %v", errAttemptTimeout, t.timeout)
		}
		return nil, err
	}
	buf := getBuffer()
	err = readInto(buf, resp)
	_ = resp.Body.Close()
	if err != nil {
		putBuffer(buf)
		if timedOut() {
			return nil, fmt.Errorf("reading response body: %w after %v", errAttemptTimeout, t.timeout)
		}
		return nil, fmt.Errorf("reading response body: %w", err)
	}
	if buf.Len() > maxBody {
		putBuffer(buf)
		return nil, fmt.Errorf("response body larger than %d bytes", maxBody)
	}
	resp.Body = newPooledBody(buf)
	resp.ContentLength = int64(buf.Len())
	return resp, nil
}

// classify says whether to retry and after how long.
func (t *retryTransport) classify(resp *http.Response, err error, attempt int) (bool, time.Duration) {
	if err != nil {
		return retryableError(err), t.backoff(attempt)
	}
	if !retryableStatus(resp.StatusCode) {
		return false, 0
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), t.clock.Now()); ok {
		return true, d
	}
	return true, t.backoff(attempt)
}

// backoff is base*2^attempt capped at max, with "equal jitter": half fixed,
// half random, so that concurrent clients spread out.
func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.backoffMax
	if attempt < 30 {
		d = min(t.backoffBase<<attempt, t.backoffMax)
	}
	half := d / 2
	return half + rand.N(half+1)
}

// retryableStatus reports the statuses worth retrying.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryableError reports transport errors worth retrying: cut bodies,
// resets, timeouts. TLS and DNS failures, refused connections and bad URLs
// are not: they will not heal within a scan.
func retryableError(err error) bool {
	switch {
	case errors.Is(err, errAttemptTimeout),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return false
}

// maxRetryAfter caps a Retry-After value; the context's deadline applies too.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After header: a number of seconds or an
// HTTP-date, relative to now. A date in the past means 0.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, false
		}
		if secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := at.Sub(now)
	switch {
	case d < 0:
		return 0, true
	case d > maxRetryAfter:
		return maxRetryAfter, true
	}
	return d, true
}

// attempts is "1 attempt" or "N attempts".
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return strconv.Itoa(n) + " attempts"
}
