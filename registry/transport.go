package registry

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
)

// newTransport assembles the HTTP stack of a Client, outermost first:
//
//	ping        answers GET /v2/ from the host's first answer (pingTransport)
//	userAgent   sets User-Agent
//	retry       backoff with jitter on 429, 5xx, cut or stalled responses
//	limiter     per-host token bucket, concurrency cap, ratelimit-remaining
//	attempt     per-attempt timeout; reads the whole body within it
//	observer    counts and traces each request that reaches the network
//	base        TLS roots, or no verification for insecure repositories
//
// Authentication (go-containerregistry's transport) goes on top per
// repository, so token requests pass through the same stack.
func newTransport(o *options, base http.RoundTripper, limits *hostLimits) http.RoundTripper {
	t := base
	t = &observeTransport{inner: t, clock: o.clock, logger: o.logger, observer: o.observer}
	t = &attemptTransport{inner: t, timeout: o.requestTimeout}
	t = &limitTransport{inner: t, limits: limits}
	t = &retryTransport{
		inner:       t,
		clock:       o.clock,
		logger:      o.logger,
		maxRetries:  o.maxRetries,
		backoffBase: o.backoffBase,
		backoffMax:  o.backoffMax,
	}
	t = &userAgentTransport{inner: t, ua: o.userAgent}
	return t
}

// baseTransports returns the network transports for verified and for
// insecure repositories.
func baseTransports(o *options) (secure, insecure http.RoundTripper, err error) {
	if o.transport != nil {
		return o.transport, o.transport, nil
	}
	pool := o.rootCAs
	if pool == nil {
		pool, err = x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
	} else {
		pool = pool.Clone()
	}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, nil, fmt.Errorf("reading CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("reading CA file %q: no PEM certificate found", o.caFile)
		}
	}
	mk := func(skipVerify bool) *http.Transport {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{
			RootCAs:            pool,
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: skipVerify, //nolint:gosec // only for repositories that ask for it
		}
		t.MaxIdleConnsPerHost = o.maxConcurrency
		return t
	}
	return mk(false), mk(true), nil
}

// userAgentTransport sets the User-Agent header. It sets it on the request
// it is given, without a copy: every request that reaches this stack was
// made for it, by this package or by go-containerregistry's transport on
// top (whose own layers set Authorization and User-Agent so, in place),
// and none is reused by its maker after the round trip.
type userAgentTransport struct {
	inner http.RoundTripper
	ua    string
}

func (t *userAgentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.ua != "" {
		req.Header.Set("User-Agent", t.ua)
	}
	return t.inner.RoundTrip(req)
}

// observeTransport reports each request that reaches the network to the
// observer and traces it at debug level, with a redacted URL and no headers.
type observeTransport struct {
	inner    http.RoundTripper
	clock    Clock
	logger   *slog.Logger
	observer func(RequestInfo)
}

func (t *observeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := t.clock.Now()
	resp, err := t.inner.RoundTrip(req)
	info := RequestInfo{Host: req.URL.Host, Method: req.Method, Duration: t.clock.Now().Sub(start)}
	if resp != nil {
		info.Status = resp.StatusCode
	}
	if t.observer != nil {
		t.observer(info)
	}
	if t.logger.Enabled(req.Context(), slog.LevelDebug) {
		attrs := []slog.Attr{
			slog.String("method", req.Method),
			slog.String("url", redactURL(req.URL)),
			slog.Int("status", info.Status),
			slog.Duration("duration", info.Duration),
		}
		if err != nil {
			attrs = append(attrs, slog.String("error", cleanError(err).Error()))
		}
		t.logger.LogAttrs(req.Context(), slog.LevelDebug, "registry request", attrs...)
	}
	return resp, err
}
