package automation

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist-dev/hoist/registry"
)

// Metrics are the service's Prometheus metrics, all named hoist_*. Build
// them once with NewMetrics on the registry that /metrics serves. Labels
// carry object names (NAMESPACE/NAME), image repositories and registry
// hosts, never a URL's credentials.
//
// A series per object (repository, policy, automation, receiver) is a
// counter or a gauge, one line of the exposition each; histograms, a dozen
// lines a series, are per registry host only, so that a scrape grows by a
// few hundred bytes per repository (see TestMetricsScrapeSize and
// docs/service.md). Every method is safe for concurrent use
// and does nothing on a nil *Metrics, so code paths without metrics (the
// command line) pass nil.
type Metrics struct {
	scans             *prometheus.CounterVec
	scanSeconds       *prometheus.CounterVec
	scanDuration      *prometheus.HistogramVec
	requests          *prometheus.CounterVec
	requestDuration   *prometheus.HistogramVec
	rateLimitWaits    *prometheus.CounterVec
	rateLimitSeconds  *prometheus.CounterVec
	selectionsChanged *prometheus.CounterVec
	commits           *prometheus.CounterVec
	pushes            *prometheus.CounterVec
	pushRetries       *prometheus.CounterVec
	pullRequests      *prometheus.CounterVec
	webhooks          *prometheus.CounterVec
	lastSuccess       *prometheus.GaugeVec
	stale             *prometheus.GaugeVec

	// repos holds each repository's series of ScanDone and Stale by its
	// label (a *repoSeries), so that a rescan does not look them up by
	// their labels again (or parse the image for its host).
	repos sync.Map
}

// repoSeries are an image repository's series, looked up once.
type repoSeries struct {
	image    string             // of the scans; another image makes new series
	seconds  prometheus.Counter // nil until the first ScanDone
	duration prometheus.Observer
	scans    [2]atomic.Pointer[prometheus.Counter] // by result: success, error; made at the first of each
	stale    atomic.Pointer[prometheus.Gauge]      // made at the first Stale
}

// Result label values.
const (
	resultSuccess = "success"
	resultError   = "error"
)

// NewMetrics creates the metrics and registers them with reg (a
// *prometheus.Registry of the caller's; hoist never uses the global default
// registry). It fails when reg already has metrics of the same names.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "hoist", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		scans: counter("scans_total",
			"Tag list scans of image repositories, by repository and result (success or error).",
			"repository", "result"),
		scanSeconds: counter("scan_seconds_total",
			"Time spent scanning an image repository, by repository; divided by hoist_scans_total, the mean scan time.",
			"repository"),
		scanDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hoist", Name: "scan_duration_seconds",
			Help:    "Time to scan an image repository, by registry host.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12), // 50ms to 102s
		}, []string{"host"}),
		requests: counter("registry_requests_total",
			"HTTP requests to registries, by host, method and status (\"error\" when no response came).",
			"host", "method", "status"),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hoist", Name: "registry_request_duration_seconds",
			Help:    "Duration of HTTP requests to registries, by host.",
			Buckets: prometheus.DefBuckets,
		}, []string{"host"}),
		rateLimitWaits: counter("rate_limit_waits_total",
			"Times a registry request waited for the host's rate limit, by host.",
			"host"),
		rateLimitSeconds: counter("rate_limit_wait_seconds_total",
			"Time registry requests waited for the host's rate limit, by host.",
			"host"),
		selectionsChanged: counter("selections_changed_total",
			"Times a policy selected a different image reference, by policy (its key, NAMESPACE:NAME).",
			"policy"),
		commits: counter("commits_total",
			"Commits made, by automation (NAMESPACE/NAME).",
			"automation"),
		pushes: counter("pushes_total",
			"Pushes to Git, by automation and result (success or error).",
			"automation", "result"),
		pushRetries: counter("push_retries_total",
			"Pushes retried after the remote moved, by automation.",
			"automation"),
		pullRequests: counter("pull_requests_total",
			"Pull requests opened or updated, by automation and result (success or error).",
			"automation", "result"),
		webhooks: counter("webhook_requests_total",
			"Webhook requests, by receiver (NAMESPACE/NAME) and outcome (such as accepted, unauthorized, bad_request, not_found, ignored).",
			"receiver", "outcome"),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "hoist", Name: "automation_last_success_timestamp_seconds",
			Help: "Unix time of the last run of an automation that ended without error, by automation.",
		}, []string{"automation"}),
		stale: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "hoist", Name: "registry_stale",
			Help: "1 while the last scan of an image repository (NAMESPACE/NAME) used its cached tag list because the registry failed transiently, else 0.",
		}, []string{"repository"}),
	}
	for _, c := range []prometheus.Collector{
		m.scans, m.scanSeconds, m.scanDuration, m.requests, m.requestDuration, m.rateLimitWaits, m.rateLimitSeconds,
		m.selectionsChanged, m.commits, m.pushes, m.pushRetries, m.pullRequests, m.webhooks, m.lastSuccess, m.stale,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering hoist metrics: %w", err)
		}
	}
	return m, nil
}

func result(err error) string {
	if err != nil {
		return resultError
	}
	return resultSuccess
}

// ScanDone counts one scan of an image repository that took d and failed
// when err is not nil. repository names it (the service passes the
// ImageRepository's NAMESPACE/NAME); image is its image, without tag, whose
// registry host labels the histogram of scan times.
func (m *Metrics) ScanDone(repository, image string, d time.Duration, err error) {
	if m == nil {
		return
	}
	repository = repositoryLabel(repository)
	rs := m.series(repository)
	if rs == nil || rs.seconds == nil || rs.image != image {
		rs = &repoSeries{
			image:    image,
			seconds:  m.scanSeconds.WithLabelValues(repository),
			duration: m.scanDuration.WithLabelValues(ImageHost(image)),
		}
		if old := m.series(repository); old != nil {
			rs.stale.Store(old.stale.Load())
		}
		m.repos.Store(repository, rs)
	}
	i := 0
	if err != nil {
		i = 1
	}
	scans := rs.scans[i].Load()
	if scans == nil {
		c := m.scans.WithLabelValues(repository, result(err))
		scans = &c
		rs.scans[i].Store(scans)
	}
	(*scans).Inc()
	rs.seconds.Add(max(d.Seconds(), 0))
	rs.duration.Observe(d.Seconds())
}

// series returns the repository's series, or nil.
func (m *Metrics) series(repository string) *repoSeries {
	v, ok := m.repos.Load(repository)
	if !ok {
		return nil
	}
	return v.(*repoSeries)
}

// ObserveRequest counts one registry request. It fits
// registry.WithRequestObserver.
func (m *Metrics) ObserveRequest(info registry.RequestInfo) {
	if m == nil {
		return
	}
	status := resultError
	if info.Status != 0 {
		status = strconv.Itoa(info.Status)
	}
	host := hostLabel(info.Host)
	m.requests.WithLabelValues(host, info.Method, status).Inc()
	m.requestDuration.WithLabelValues(host).Observe(info.Duration.Seconds())
}

// RateLimitWait counts a wait of d for host's rate limit.
func (m *Metrics) RateLimitWait(host string, d time.Duration) {
	if m == nil {
		return
	}
	host = hostLabel(host)
	m.rateLimitWaits.WithLabelValues(host).Inc()
	m.rateLimitSeconds.WithLabelValues(host).Add(max(d.Seconds(), 0))
}

// SelectionChanged counts a new selection of the policy, named by its key
// (Selection.Key, NAMESPACE:NAME).
func (m *Metrics) SelectionChanged(policy string) {
	if m == nil {
		return
	}
	m.selectionsChanged.WithLabelValues(policy).Inc()
}

// Commit counts a commit made by the automation (NAMESPACE/NAME).
func (m *Metrics) Commit(automation string) {
	if m == nil {
		return
	}
	m.commits.WithLabelValues(automation).Inc()
}

// Push counts a push by the automation, failed when err is not nil.
func (m *Metrics) Push(automation string, err error) {
	if m == nil {
		return
	}
	m.pushes.WithLabelValues(automation, result(err)).Inc()
}

// PushRetry counts a push retried by the automation after the remote
// moved.
func (m *Metrics) PushRetry(automation string) {
	if m == nil {
		return
	}
	m.pushRetries.WithLabelValues(automation).Inc()
}

// PullRequest counts a pull request opened or updated by the automation,
// failed when err is not nil.
func (m *Metrics) PullRequest(automation string, err error) {
	if m == nil {
		return
	}
	m.pullRequests.WithLabelValues(automation, result(err)).Inc()
}

// WebhookRequest counts a request to the receiver (NAMESPACE/NAME) with its
// outcome, a short fixed word chosen by the webhook handler (accepted,
// unauthorized, bad_request, not_found, ignored). An unknown receiver path
// is best counted under an empty receiver, not the path, which embeds the
// receiver's token hash.
func (m *Metrics) WebhookRequest(receiver, outcome string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(receiver, outcome).Inc()
}

// LastSuccess records that the automation's run ended without error at t.
func (m *Metrics) LastSuccess(automation string, t time.Time) {
	if m == nil {
		return
	}
	m.lastSuccess.WithLabelValues(automation).Set(float64(t.UnixNano()) / 1e9)
}

// ForgetAutomation removes the automation's last-success gauge, as when the
// automation was removed from the configuration; its counters stay.
func (m *Metrics) ForgetAutomation(automation string) {
	if m == nil {
		return
	}
	m.lastSuccess.DeleteLabelValues(automation)
}

// Stale records whether the last scan of the image repository
// (NAMESPACE/NAME, as ScanDone) served its cached tag list.
func (m *Metrics) Stale(repository string, stale bool) {
	if m == nil {
		return
	}
	v := 0.0
	if stale {
		v = 1
	}
	repository = repositoryLabel(repository)
	rs := m.series(repository)
	if rs == nil {
		// Stale before any ScanDone: the gauge only (ScanDone makes
		// the rest).
		rs = &repoSeries{}
		if v, loaded := m.repos.LoadOrStore(repository, rs); loaded {
			rs = v.(*repoSeries)
		}
	}
	g := rs.stale.Load()
	if g == nil {
		gauge := m.stale.WithLabelValues(repository)
		g = &gauge
		rs.stale.Store(g)
	}
	(*g).Set(v)
}

// ForgetRepository removes the image repository's stale gauge, as when
// the repository was removed from the configuration; its counters stay.
func (m *Metrics) ForgetRepository(repository string) {
	if m == nil {
		return
	}
	repository = repositoryLabel(repository)
	m.repos.Delete(repository)
	m.stale.DeleteLabelValues(repository)
}

// ImageHost is the registry host of an image repository, as its requests
// name it (index.docker.io for Docker Hub), without user information; ""
// when image does not parse. The scan metrics are labelled with it, and the
// service bounds the scans in progress per host with it.
func ImageHost(image string) string {
	ref, err := name.NewRepository(repositoryLabel(image))
	if err != nil {
		return ""
	}
	return hostLabel(ref.RegistryStr())
}

// hostLabel is host without any user information.
func hostLabel(host string) string {
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	return host
}

// repositoryLabel is an image repository without a URL scheme or user
// information, in case a caller passes a URL.
func repositoryLabel(repo string) string {
	if i := strings.Index(repo, "://"); i >= 0 {
		repo = repo[i+3:]
	}
	slash := strings.IndexByte(repo, '/')
	if at := strings.LastIndexByte(repo[:max(slash, 0)], '@'); slash > 0 && at >= 0 {
		repo = repo[at+1:]
	}
	return repo
}
