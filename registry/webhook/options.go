package webhook

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// DefaultBodyLimit is the largest request body a Handler reads by default:
// 1 MiB, far above any registry's payload.
const DefaultBodyLimit = 1 << 20

// Option configures NewHandler.
type Option func(*options) error

type options struct {
	logger    *slog.Logger
	bodyLimit int64
	observe   func(receiver, outcome string)
	idKeys    *JWKS
	now       func() time.Time
	oidc      *http.Client
}

func makeOptions(opts []Option) (options, error) {
	o := options{
		logger:    slog.New(slog.DiscardHandler),
		bodyLimit: DefaultBodyLimit,
		observe:   func(string, string) {},
		now:       time.Now,
		oidc:      http.DefaultClient,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return options{}, err
		}
	}
	return o, nil
}

// WithLogger sets the logger: one line per request, at Info when a rescan is
// triggered, Warn when a request is refused for its authentication or
// content, Debug otherwise. Lines name the receiver as NAMESPACE/NAME, never
// its path, token or a signature. Default: a logger that discards
// everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("webhook: WithLogger: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithBodyLimit sets the largest request body read, in bytes; a larger one
// is answered 413 and triggers nothing. Default: DefaultBodyLimit (1 MiB).
func WithBodyLimit(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("webhook: WithBodyLimit: %d: want a positive number of bytes", n)
		}
		o.bodyLimit = n
		return nil
	}
}

// WithObserver sets a function called once per request, when the response
// status is decided and before the response is written, with the receiver as NAMESPACE/NAME ("" when no
// receiver is served at the path) and one of the Outcome constants: what
// metrics count requests by. It must be safe for concurrent use and return
// quickly. Default: none.
func WithObserver(f func(receiver, outcome string)) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("webhook: WithObserver: nil function")
		}
		o.observe = f
		return nil
	}
}

// WithIDTokenKeys sets the key set that signs the ID tokens of gcr
// receivers (Google's: NewJWKS(GoogleJWKSURL, ...)), and the clock that
// checks their expiry (nil: time.Now). Without it, gcr requests are refused.
func WithIDTokenKeys(keys *JWKS, now func() time.Time) Option {
	return func(o *options) error {
		if keys == nil {
			return errors.New("webhook: WithIDTokenKeys: nil key set")
		}
		o.idKeys = keys
		if now != nil {
			o.now = now
		}
		return nil
	}
}

// WithOIDCClient sets the HTTP client that fetches the discovery documents
// and key sets of the issuers of generic-oidc receivers, each from its
// IssuerURL and the jwks_uri that names, and nowhere else. Default:
// http.DefaultClient.
func WithOIDCClient(c *http.Client) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("webhook: WithOIDCClient: nil client")
		}
		o.oidc = c
		return nil
	}
}
