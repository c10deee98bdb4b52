package registry

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Option configures a Client built by New.
type Option func(*options) error

// RequestInfo describes one HTTP request that reached the network, for
// metrics. It carries no URL, header or body.
type RequestInfo struct {
	Host   string
	Method string
	// Status is the HTTP status, or 0 when no response came (network error,
	// timeout).
	Status   int
	Duration time.Duration
}

type options struct {
	transport      http.RoundTripper
	clock          Clock
	logger         *slog.Logger
	rps            float64
	burst          int
	maxConcurrency int
	cache          *Cache
	keychain       authn.Keychain
	userAgent      string
	caFile         string
	rootCAs        *x509.CertPool
	maxRetries     int
	requestTimeout time.Duration
	dockerConfig   string
	observer       func(RequestInfo)
	waitObserver   func(host string, d time.Duration)
	tagTTL         time.Duration
	pageSize       int
	maxPages       int
	backoffBase    time.Duration
	backoffMax     time.Duration
	cloudHTTP      *http.Client
	googleAPIs     googleAPIs
}

// Defaults, as documented on each option.
const (
	defaultRPS            = 20
	defaultBurst          = 20
	defaultMaxConcurrency = 8
	defaultMaxRetries     = 5
	defaultRequestTimeout = 30 * time.Second
	defaultTagTTL         = 24 * time.Hour
	defaultPageSize       = 1000
	defaultMaxPages       = 10000
	defaultBackoffBase    = 500 * time.Millisecond
	defaultBackoffMax     = 30 * time.Second
	defaultUserAgent      = "hoist"
)

// makeOptions applies opts over the defaults, in one place.
func makeOptions(opts ...Option) (*options, error) {
	o := &options{
		clock:          SystemClock{},
		logger:         slog.New(slog.DiscardHandler),
		rps:            defaultRPS,
		burst:          defaultBurst,
		maxConcurrency: defaultMaxConcurrency,
		userAgent:      defaultUserAgent,
		maxRetries:     defaultMaxRetries,
		requestTimeout: defaultRequestTimeout,
		tagTTL:         defaultTagTTL,
		pageSize:       defaultPageSize,
		maxPages:       defaultMaxPages,
		backoffBase:    defaultBackoffBase,
		backoffMax:     defaultBackoffMax,
		googleAPIs:     googleAPIs{sts: defaultGoogleSTS, iamCredentials: defaultGoogleIAMCredentials},
	}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	if o.keychain == nil {
		var files []string
		if o.dockerConfig != "" {
			files = []string{filepath.Join(o.dockerConfig, "config.json")}
		} else {
			home, _ := os.UserHomeDir() // "": no home, no files under it
			files = userAuthFiles(defaultDockerConfigDir(), os.Getenv, home)
		}
		o.keychain = newDockerKeychain(files, o.clock)
	}
	return o, nil
}

// defaultDockerConfigDir is DOCKER_CONFIG, else ~/.docker, as docker does.
func defaultDockerConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".docker")
}

// WithTransport sets the innermost http.RoundTripper, the one that talks to
// the network. Default: a clone of http.DefaultTransport with the TLS roots
// of WithRootCAs/WithCAFile (a second one, skipping TLS verification, serves
// repositories that ask for Insecure). When set, TLS options are the given
// transport's business and Insecure only allows plain HTTP.
func WithTransport(t http.RoundTripper) Option {
	return func(o *options) error {
		if t == nil {
			return errors.New("registry: WithTransport: nil transport")
		}
		o.transport = t
		return nil
	}
}

// WithClock sets the time source used for timestamps, backoff and rate
// limits. Default: SystemClock.
func WithClock(c Clock) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("registry: WithClock: nil clock")
		}
		o.clock = c
		return nil
	}
}

// WithLogger sets the logger for debug traces of requests and warnings of
// the cache. Default: a logger that discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("registry: WithLogger: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithRateLimit sets the token bucket of each registry host: rps requests per
// second on average, bursts of up to burst. rps <= 0 means no limit.
// Default: 20 requests per second, bursts of 20.
func WithRateLimit(rps float64, burst int) Option {
	return func(o *options) error {
		if burst < 1 && rps > 0 {
			return fmt.Errorf("registry: WithRateLimit: burst %d must be at least 1", burst)
		}
		o.rps, o.burst = rps, burst
		return nil
	}
}

// WithMaxConcurrency caps the requests in flight to one registry host,
// shared by every repository on it. Default: 8.
func WithMaxConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("registry: WithMaxConcurrency: %d must be at least 1", n)
		}
		o.maxConcurrency = n
		return nil
	}
}

// WithCache sets the persistent cache of tag lists, tag digests and facts by
// digest. Default: none (every call asks the registry, and a failed tag list
// cannot be served stale).
func WithCache(c *Cache) Option {
	return func(o *options) error {
		o.cache = c
		return nil
	}
}

// WithKeychain sets the keychain consulted after a Repo's own credentials.
// Default: Docker's config.json ($DOCKER_CONFIG, else ~/.docker), with its
// auths, credHelpers and credsStore (helpers are run as docker does), then
// the auth.json of podman, skopeo and buildah ($REGISTRY_AUTH_FILE,
// $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json),
// and else anonymous access; with WithDockerConfigDir, that config.json
// only.
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) error {
		if k == nil {
			return errors.New("registry: WithKeychain: nil keychain")
		}
		o.keychain = k
		return nil
	}
}

// WithDockerConfigDir sets the directory holding Docker's config.json for the
// default keychain, which then reads that file only. Default:
// $DOCKER_CONFIG, else ~/.docker, then the containers tools' auth.json.
func WithDockerConfigDir(dir string) Option {
	return func(o *options) error {
		o.dockerConfig = dir
		return nil
	}
}

// WithUserAgent sets the User-Agent header of every request. Default: "hoist".
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		o.userAgent = ua
		return nil
	}
}

// WithCAFile adds the PEM certificates of path to the TLS roots. Default: the
// system roots only.
func WithCAFile(path string) Option {
	return func(o *options) error {
		o.caFile = path
		return nil
	}
}

// WithRootCAs replaces the TLS roots (the system roots by default).
// WithCAFile's certificates are added to them.
func WithRootCAs(pool *x509.CertPool) Option {
	return func(o *options) error {
		o.rootCAs = pool
		return nil
	}
}

// WithMaxRetries sets how often a request is retried after a 429, a 5xx, a
// cut or stalled response, or a reset connection. Default: 5.
func WithMaxRetries(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("registry: WithMaxRetries: %d is negative", n)
		}
		o.maxRetries = n
		return nil
	}
}

// WithRequestTimeout bounds each attempt of a request, body included, so that
// a stalled response is retried instead of eating the whole scan's timeout.
// Default: 30s.
func WithRequestTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("registry: WithRequestTimeout: %v must be positive", d)
		}
		o.requestTimeout = d
		return nil
	}
}

// WithBackoff sets the first retry delay and its cap; delays double per
// attempt with jitter, and a Retry-After header takes precedence.
// Default: 500ms, capped at 30s.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) error {
		if base <= 0 || max < base {
			return fmt.Errorf("registry: WithBackoff: need 0 < base (%v) <= max (%v)", base, max)
		}
		o.backoffBase, o.backoffMax = base, max
		return nil
	}
}

// WithRequestObserver sets a function called once per HTTP request that
// reached the network (each retry and token request counts), for metrics.
// It must be safe for concurrent use. Default: none.
func WithRequestObserver(f func(RequestInfo)) Option {
	return func(o *options) error {
		o.observer = f
		return nil
	}
}

// WithWaitObserver sets a function called each time a request waits for
// its host's rate limit (the token bucket, or the pacing before Docker Hub's
// pull limit), with the wait, for metrics. It must be safe for concurrent
// use. Default: none.
func WithWaitObserver(f func(host string, wait time.Duration)) Option {
	return func(o *options) error {
		o.waitObserver = f
		return nil
	}
}

// WithTagTTL sets how long Facts trusts a tag's digest read earlier (kept in
// the cache) instead of asking the registry again. Digest, and Facts asked
// only for a digest, always ask. Tags are mutable: a tag pushed again with a
// new image is seen after at most this long. Default: 24h.
func WithTagTTL(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("registry: WithTagTTL: %v is negative", d)
		}
		o.tagTTL = d
		return nil
	}
}

// WithCloudHTTPClient sets the HTTP client that talks to the clouds'
// identity services (AWS STS and ECR, Google's metadata server and OAuth2,
// Microsoft Entra) for Repos with a Provider. Their addresses follow each
// SDK's environment variables (AWS_ENDPOINT_URL_ECR, GCE_METADATA_HOST,
// AZURE_AUTHORITY_HOST). Default: each SDK's own client.
func WithCloudHTTPClient(hc *http.Client) Option {
	return func(o *options) error {
		o.cloudHTTP = hc
		return nil
	}
}

// WithGoogleAPIs sets the base URLs of Google's Security Token Service
// (sts, for workload identity federation) and IAM Service Account
// Credentials API (iamCredentials, for impersonation), used for a
// CloudIdentity with provider gcp. Default: https://sts.googleapis.com and
// https://iamcredentials.googleapis.com; "" keeps the default.
func WithGoogleAPIs(sts, iamCredentials string) Option {
	return func(o *options) error {
		if sts != "" {
			o.googleAPIs.sts = strings.TrimSuffix(sts, "/")
		}
		if iamCredentials != "" {
			o.googleAPIs.iamCredentials = strings.TrimSuffix(iamCredentials, "/")
		}
		return nil
	}
}

// WithPageSize sets the n asked for each page of a tag list. Default: 1000
// (Amazon ECR refuses more).
func WithPageSize(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("registry: WithPageSize: %d must be at least 1", n)
		}
		o.pageSize = n
		return nil
	}
}
