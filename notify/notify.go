// Package notify sends events of the loop (a new selection, a push, a pull
// request, a failure) to the Providers that Flux-style Alerts route them to:
// generic and generic-hmac webhooks, Slack, Microsoft Teams and Discord
// messages, and GitHub, GitLab and Gitea commit statuses (see
// docs/notifications.md).
//
// A Notifier deduplicates (an event sent to a provider is not sent again
// within a window), rate-limits (a token bucket per provider) and retries
// transient failures with backoff, on an injected clock.
package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/notification/v1beta3"
)

// The reasons of the events hoist sends.
const (
	// ReasonNewSelection: an ImagePolicy's new selection was written.
	ReasonNewSelection = "NewSelection"
	// ReasonPushed: an ImageUpdateAutomation pushed a commit.
	ReasonPushed = "Pushed"
	// ReasonPullRequest: an ImageUpdateAutomation opened or updated a
	// pull request.
	ReasonPullRequest = "PullRequest"
	// ReasonFailed: an automation, or some of its policies or targets,
	// failed.
	ReasonFailed = "Failed"
)

// MetaRevision is the metadata key of the commit an event is about, in
// Flux's form BRANCH@sha1:SHA; commit status providers need it.
const MetaRevision = "revision"

// ReportingController names hoist in the events it sends.
const ReportingController = "hoist"

// ObjectReference names the object an event is about.
type ObjectReference struct {
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	APIVersion string `json:"apiVersion,omitempty"`
}

// Event is what is sent: Flux's event format (the body of the generic
// providers).
type Event struct {
	InvolvedObject      ObjectReference   `json:"involvedObject"`
	Severity            string            `json:"severity"`
	Timestamp           time.Time         `json:"timestamp"`
	Message             string            `json:"message"`
	Reason              string            `json:"reason"`
	Metadata            map[string]string `json:"metadata,omitempty"`
	ReportingController string            `json:"reportingController"`
	// Labels are the involved object's labels, which an Alert's
	// matchLabels select on; they are not sent.
	Labels map[string]string `json:"-"`
}

// Clock is the time source of rate limits, deduplication and retries.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives after d.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Defaults of a Notifier.
const (
	DefaultDedupWindow = time.Hour
	DefaultBurst       = 10
	DefaultRefill      = 6 * time.Second
	DefaultAttempts    = 4
	DefaultBackoff     = time.Second
	MaxBackoff         = 30 * time.Second
	DefaultTimeout     = 15 * time.Second
)

// SecretReader reads the keys of the Secret a Provider names, in the
// Provider's namespace; a key the Secret does not have is absent. It is
// how the controller reads Secrets from the API server.
type SecretReader func(ctx context.Context, namespace, name string) (map[string]string, error)

// SecretKeys are the keys of a Provider's Secret that are read, Flux's
// names: address, token (the bearer or API token, and the HMAC key of
// generic-hmac), headers, username and channel.
var SecretKeys = []string{"address", "token", "headers", "username", "channel"}

// Notifier sends events. Its zero value is not usable: build it with New.
type Notifier struct {
	client  *http.Client
	clock   Clock
	secrets SecretReader
	log     *slog.Logger
	// eventsAddr, when set, receives every event (Flux's event
	// forwarding); the Alerts are not read then.
	eventsAddr string

	dedup    time.Duration
	burst    int
	refill   time.Duration
	attempts int
	backoff  time.Duration

	mu      sync.Mutex
	sent    map[string]time.Time // dedup key -> when sent
	buckets map[string]*bucket   // provider key -> its bucket
}

// Option configures a Notifier.
type Option func(*Notifier)

// WithClient sets the HTTP client; default: one with http.DefaultTransport
// (each request is bounded by its provider's timeout).
func WithClient(c *http.Client) Option { return func(n *Notifier) { n.client = c } }

// WithClock sets the clock; default: the system's.
func WithClock(c Clock) Option { return func(n *Notifier) { n.clock = c } }

// WithLogger sets the logger of dropped and failed notifications; default:
// discard.
func WithLogger(l *slog.Logger) Option { return func(n *Notifier) { n.log = l } }

// WithSecrets sets how a Provider's Secret is read; default: from the
// secrets directory given to New, DIR/NAME/KEY (whatever the namespace).
func WithSecrets(r SecretReader) Option { return func(n *Notifier) { n.secrets = r } }

// WithEventsAddr makes the Notifier post every event, in Flux's event
// format, to addr (the event endpoint of Flux's notification-controller,
// as Flux's controllers do with --events-addr) instead of sending it to
// the Providers of the Alerts that route it: notification-controller
// routes it then, by its own Alerts. Default: none, hoist routes and
// sends.
func WithEventsAddr(addr string) Option { return func(n *Notifier) { n.eventsAddr = addr } }

// WithDedupWindow sets how long an event sent to a provider is not sent
// again to it; default DefaultDedupWindow.
func WithDedupWindow(d time.Duration) Option { return func(n *Notifier) { n.dedup = d } }

// WithRateLimit sets each provider's token bucket: burst events at once,
// then one per refill; default DefaultBurst and DefaultRefill (10 a
// minute).
func WithRateLimit(burst int, refill time.Duration) Option {
	return func(n *Notifier) { n.burst, n.refill = max(1, burst), refill }
}

// WithRetries sets the attempts per event and the first backoff, doubled
// after each failure up to MaxBackoff; default DefaultAttempts and
// DefaultBackoff.
func WithRetries(attempts int, backoff time.Duration) Option {
	return func(n *Notifier) { n.attempts, n.backoff = max(1, attempts), backoff }
}

// New returns a Notifier that reads provider secrets from secretsDir
// (DIR/NAME/KEY, see docs/state-and-secrets.md).
func New(secretsDir string, opts ...Option) *Notifier {
	n := &Notifier{
		client:   &http.Client{},
		clock:    realClock{},
		log:      slog.New(slog.DiscardHandler),
		dedup:    DefaultDedupWindow,
		burst:    DefaultBurst,
		refill:   DefaultRefill,
		attempts: DefaultAttempts,
		backoff:  DefaultBackoff,
		sent:     map[string]time.Time{},
		buckets:  map[string]*bucket{},
	}
	for _, o := range opts {
		o(n)
	}
	if n.secrets == nil {
		dir := secretsDir
		n.secrets = func(_ context.Context, _, name string) (map[string]string, error) { return readSecret(dir, name) }
	}
	return n
}

// Active reports whether n has anything to do with the events of a run
// under set: it forwards every event, or set has Alerts.
func (n *Notifier) Active(set *config.Set) bool {
	return n != nil && (n.eventsAddr != "" || (set != nil && len(set.Alerts) > 0))
}

// Outcome counts what Notify did.
type Outcome struct {
	Sent, Deduplicated, RateLimited, Skipped int
	// Errors are the sends that failed after their retries.
	Errors []error
}

// Notify sends each event to the provider of every Alert of set that
// routes it, or, WithEventsAddr, posts it to the events address. Failures
// are returned in the Outcome (and logged by the caller); they never fail
// the loop.
func (n *Notifier) Notify(ctx context.Context, set *config.Set, events []Event) Outcome {
	var out Outcome
	if !n.Active(set) {
		return out
	}
	for _, e := range events {
		if e.Timestamp.IsZero() {
			e.Timestamp = n.clock.Now().UTC()
		}
		if e.ReportingController == "" {
			e.ReportingController = ReportingController
		}
		if n.eventsAddr != "" {
			if err := n.send(ctx, n.forwardRoute(), e, &out); err != nil {
				out.Errors = append(out.Errors, err)
			}
			continue
		}
		for _, a := range set.Alerts {
			if a.Provider == nil || a.Provider.Spec.Suspend || !Routes(a, e) {
				continue
			}
			ev := withAlertMetadata(a, e)
			if err := n.send(ctx, n.alertRoute(a), ev, &out); err != nil {
				out.Errors = append(out.Errors, err)
			}
		}
	}
	return out
}

// route is where an event goes: a Provider through an Alert, or the
// events address.
type route struct {
	// key names the destination in the dedup and rate limit state.
	key string
	// what names it in errors.
	what string
	// resolve reads the destination's secret.
	resolve func(context.Context) (*target, error)
}

func (n *Notifier) alertRoute(a *config.Alert) route {
	p := a.Provider
	key := p.Namespace + "/" + p.Name
	return route{
		key:     key,
		what:    fmt.Sprintf("alert %s/%s: provider %s", a.Namespace, a.Name, key),
		resolve: func(ctx context.Context) (*target, error) { return n.resolve(ctx, p) },
	}
}

// forwardRoute is the events address: Flux's event JSON, as the generic
// provider posts it.
func (n *Notifier) forwardRoute() route {
	return route{
		key:  "\x00events-addr",
		what: "events address",
		resolve: func(context.Context) (*target, error) {
			return &target{typ: v1beta3.ProviderGeneric, address: n.eventsAddr, timeout: DefaultTimeout}, nil
		},
	}
}

// Routes reports whether Alert a routes event e, as Flux decides it: the
// alert is not suspended, the event is at least as severe as
// eventSeverity, its object is one of eventSources (in the alert's
// namespace unless the source names another; name "*" with matchLabels),
// and its message passes inclusionList and exclusionList. It is pure.
func Routes(a *config.Alert, e Event) bool {
	s := a.Spec
	if s.Suspend {
		return false
	}
	if s.EventSeverity == v1beta3.SeverityError && e.Severity != v1beta3.SeverityError {
		return false
	}
	found := false
	for _, src := range s.EventSources {
		ns := src.Namespace
		if ns == "" {
			ns = a.Namespace
		}
		if src.Kind != e.InvolvedObject.Kind || (ns != "*" && ns != e.InvolvedObject.Namespace) {
			continue
		}
		if src.Name == "*" {
			if labels.SelectorFromSet(src.MatchLabels).Matches(labels.Set(e.Labels)) {
				found = true
				break
			}
			continue
		}
		if src.Name == e.InvolvedObject.Name {
			found = true
			break
		}
	}
	if !found {
		return false
	}
	if len(s.InclusionList) > 0 && !matchAny(s.InclusionList, e.Message) {
		return false
	}
	return !matchAny(s.ExclusionList, e.Message)
}

func matchAny(res []string, s string) bool {
	for _, r := range res {
		if re, err := regexp.Compile(r); err == nil && re.MatchString(s) {
			return true
		}
	}
	return false
}

// withAlertMetadata adds the alert's eventMetadata and summary to a copy
// of e's metadata; the event's own keys win.
func withAlertMetadata(a *config.Alert, e Event) Event {
	if len(a.Spec.EventMetadata) == 0 && a.Spec.Summary == "" {
		return e
	}
	md := make(map[string]string, len(e.Metadata)+len(a.Spec.EventMetadata)+1)
	maps.Copy(md, a.Spec.EventMetadata)
	if a.Spec.Summary != "" {
		md["summary"] = a.Spec.Summary
	}
	maps.Copy(md, e.Metadata)
	e.Metadata = md
	return e
}

// send delivers e to r, once per dedup window, within r's rate, retrying
// transient failures.
func (n *Notifier) send(ctx context.Context, r route, e Event, out *Outcome) error {
	pkey := r.key
	key := dedupKey(pkey, e)
	n.mu.Lock()
	now := n.clock.Now()
	if at, ok := n.sent[key]; ok && now.Sub(at) < n.dedup {
		n.mu.Unlock()
		out.Deduplicated++
		return nil
	}
	for k, at := range n.sent { // forget what is out of the window
		if now.Sub(at) >= n.dedup {
			delete(n.sent, k)
		}
	}
	b := n.buckets[pkey]
	if b == nil {
		b = &bucket{tokens: float64(n.burst), at: now}
		n.buckets[pkey] = b
	}
	if !b.take(now, n.burst, n.refill) {
		n.mu.Unlock()
		out.RateLimited++
		n.log.Warn("notification dropped: rate limit", "to", r.what, "reason", e.Reason, "object", e.InvolvedObject.Kind+"/"+e.InvolvedObject.Namespace+"/"+e.InvolvedObject.Name)
		return nil
	}
	n.mu.Unlock()

	target, err := r.resolve(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", r.what, err)
	}
	req, err := target.request(e)
	if errors.Is(err, errNoRevision) {
		out.Skipped++
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", r.what, err)
	}
	if err := n.deliver(ctx, target, req); err != nil {
		return fmt.Errorf("%s: %w", r.what, err)
	}
	n.mu.Lock()
	n.sent[key] = n.clock.Now()
	n.mu.Unlock()
	out.Sent++
	return nil
}

// dedupKey identifies an event sent to one provider.
func dedupKey(provider string, e Event) string {
	o := e.InvolvedObject
	return strings.Join([]string{provider, o.Kind, o.Namespace, o.Name, e.Severity, e.Reason, e.Message, e.Metadata[MetaRevision]}, "\x00")
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	at     time.Time
}

func (b *bucket) take(now time.Time, burst int, refill time.Duration) bool {
	if refill > 0 && now.After(b.at) {
		b.tokens = min(float64(burst), b.tokens+float64(now.Sub(b.at))/float64(refill))
	}
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// deliver sends req (rebuilt per attempt), retrying network errors, 429
// and 5xx answers with backoff (or the answer's Retry-After, in seconds).
func (n *Notifier) deliver(ctx context.Context, t *target, r *request) error {
	wait := n.backoff
	var last error
	for attempt := 1; ; attempt++ {
		retryAfter, err := n.do(ctx, t, r)
		if err == nil {
			return nil
		}
		last = err
		var perm permanentError
		if errors.As(err, &perm) || attempt >= n.attempts {
			break
		}
		d := wait
		if retryAfter > 0 {
			d = min(retryAfter, MaxBackoff)
		}
		select {
		case <-n.clock.After(d):
		case <-ctx.Done():
			return fmt.Errorf("%w (after %d attempts; %v)", last, attempt, ctx.Err())
		}
		wait = min(2*wait, MaxBackoff)
	}
	return last
}

// permanentError is an answer that a retry would not change.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// do sends one attempt.
func (n *Notifier) do(ctx context.Context, t *target, r *request) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, strings.NewReader(string(r.body)))
	if err != nil {
		return 0, permanentError{fmt.Errorf("building the request: %w", err)}
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("posting to %s: %w", redact(r.url), scrub(err, r.url))
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 300 {
		return 0, nil
	}
	err = fmt.Errorf("posting to %s: %s", redact(r.url), resp.Status)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		var ra time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			ra = time.Duration(s) * time.Second
		}
		return ra, err
	}
	return 0, permanentError{err}
}

// readSecret reads the keys of a provider's secret, DIR/NAME/KEY; a key
// whose file does not exist is "".
func readSecret(dir, name string) (map[string]string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("secret %q: not a secret name", name)
	}
	if dir == "" {
		return nil, fmt.Errorf("secret %q: no secrets directory", name)
	}
	out := map[string]string{}
	for _, k := range SecretKeys {
		b, err := os.ReadFile(filepath.Join(dir, name, k))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading secret %q: %w", name, err)
		}
		if k == "headers" {
			out[k] = string(b)
		} else {
			out[k] = strings.TrimSpace(string(b))
		}
	}
	return out, nil
}
