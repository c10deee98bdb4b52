package service

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/pprof"
	"reflect"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/automation/state"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/policy"
	"github.com/hoist-dev/hoist/registry/webhook"
)

// ServiceOptions configure a Service.
type ServiceOptions struct {
	// Runner runs automations; its Scanner scans registries (required).
	Runner *automation.Runner
	// ConfigPaths are the configuration's files and directories; they are
	// watched and reloaded when they change (required without Source).
	ConfigPaths []string
	// Source, when set, delivers the configuration instead of
	// ConfigPaths' files: the Kubernetes controller's documents, say.
	Source Source
	// Observer, when set, receives each repository's scan and each
	// automation's run as they end.
	Observer Observer
	// WatchInterval is how often the configuration is looked at. Default 2s.
	WatchInterval time.Duration
	// Registry collects the metrics served at /metrics (required).
	Registry *prometheus.Registry
	// Metrics records what the service does; nil records nothing.
	Metrics *automation.Metrics
	// Logger receives one line per decision worth knowing.
	Logger *slog.Logger
	// Window gathers selection changes into one commit. Default 5s.
	Window time.Duration
	// Parallelism bounds Git repositories worked on at once, and scans in
	// progress at once per registry host (hosts do not share their slots,
	// so a slow host holds up only its own scans). Default 4.
	Parallelism int
	// StartupSpread spreads the first scans. Default 30s.
	StartupSpread time.Duration
	// Grace bounds the wait for work in progress at shutdown. Default 25s.
	Grace time.Duration
	// Clock is the time source of schedules. Default SystemClock.
	Clock Clock
	// WebhookRecheck is how long after a repository's last webhook its
	// rescan is repeated: some registries, CNCF Distribution among them,
	// send the notification of a push before the new tag is listed, so the
	// first rescan can miss it. Default DefaultWebhookRecheck; negative: no
	// repeat.
	WebhookRecheck time.Duration
	// WebhookMaxBody is the largest webhook request body read, in bytes;
	// a larger one is answered 413. Default webhook.DefaultBodyLimit.
	WebhookMaxBody int64
	// Profiling serves Go's runtime profiles at /debug/pprof/ next to
	// /metrics (OpsHandler and Handler; never HookHandler).
	Profiling bool
	// IDTokenKeys is the key set of the ID tokens of gcr receivers.
	// Default: Google's, fetched with http.DefaultClient.
	IDTokenKeys *webhook.JWKS
}

// DefaultWebhookRecheck is the default ServiceOptions.WebhookRecheck.
const DefaultWebhookRecheck = 500 * time.Millisecond

// Service is hoist run without --once: it scans each ImageRepository on its
// interval, reacts to registry webhooks, runs each ImageUpdateAutomation
// when a policy it uses changed selection and on its own interval, and
// serves /hook/, /status, /metrics, /healthz and /readyz.
type Service struct {
	o      ServiceOptions
	log    *slog.Logger
	source Source
	sched  *Scheduler
	batch  *Batcher[string]
	cur    atomic.Pointer[indexedSet] // the running configuration
	hooks  atomic.Pointer[webhook.Handler]
	ready  atomic.Bool
	// webhookEach matches webhooks against each repository of a receiver
	// (benchmarks compare, see receiverTargets).
	webhookEach bool
	mu          sync.Mutex // guards selection comparison and known
	// known holds each policy's last successful scan, by policy key, so
	// that automation runs write it instead of scanning again.
	known map[string]knownSelection
	// errs holds the last error of each policy and automation, warnings
	// why a policy's last scan used a stale tag list (by policy key), and
	// scanned when each repository (NAMESPACE/NAME) was last scanned
	// (Status).
	errs     map[string]string
	warnings map[string]string
	scanned  map[string]time.Time
	// kept holds the changes each automation's last run kept back (held,
	// after a manual change, downgrades), by NAMESPACE/NAME.
	kept map[string][]automation.Kept
	// recorded is, by policy key, what the state store holds of its last
	// scan (see recordSelection).
	recorded map[string]recordedSelection
	// records writes the selections of scans to the state store behind
	// them while the service runs; writeThrough, set by benchmarks only,
	// writes each in its scan as before.
	records      *selectionWriter
	writeThrough bool
	// deferred holds the automations (NAMESPACE/NAME) whose run waits for
	// the first scans of their policies (see waitingLocked); runsScan,
	// set by benchmarks only, lets them run and scan as before.
	deferred map[string]bool
	runsScan bool
	// roundDone is set once every repository was scanned since start
	// (see firstRoundDone); roundChecked is len(scanned) at the last
	// look.
	roundDone    bool
	roundChecked int
	started      time.Time
	// ran holds the automations run since start, until every active one
	// has run after the first round (then runsDone is set and ran
	// dropped): see firstRunsDone.
	ran      map[string]bool
	runsDone bool

	recheckMu sync.Mutex
	rechecks  map[string]*recheck // by repository job key
}

// knownSelection is a policy's last scan: the documents it was made from
// and the reference it selected.
type knownSelection struct {
	policy *v1alpha1.ImagePolicy
	repo   *v1alpha1.ImageRepository
	ref    string
}

// recheck is the rescan that follows a repository's webhooks.
type recheck struct{ timer Timer }

// NewService builds a Service from the configuration the watcher loaded.
func NewService(o ServiceOptions) (*Service, error) {
	if o.Runner == nil || (len(o.ConfigPaths) == 0 && o.Source == nil) || o.Registry == nil {
		return nil, errors.New("service: Runner, ConfigPaths (or Source) and Registry are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.WebhookRecheck == 0 {
		o.WebhookRecheck = DefaultWebhookRecheck
	}
	s := &Service{o: o, log: o.Logger, rechecks: map[string]*recheck{}, known: map[string]knownSelection{}, errs: map[string]string{}, scanned: map[string]time.Time{}, recorded: map[string]recordedSelection{}, deferred: map[string]bool{}}
	s.records = newSelectionWriter(o.Runner.State, o.Logger)
	s.source = o.Source
	if s.source == nil {
		s.source = &fileSource{paths: o.ConfigPaths, o: ConfigWatcherOptions{
			Interval: o.WatchInterval,
			Clock:    o.Clock,
			OnError: func(err error) {
				s.log.Error("configuration is invalid; the last good one keeps running", "error", err)
			},
		}}
	}
	s.sched = NewScheduler(SchedulerOptions{Clock: o.Clock, Logger: o.Logger, Parallelism: o.Parallelism, StartupSpread: o.StartupSpread, Grace: o.Grace})
	s.batch = NewBatcher(s.flush, BatcherOptions{Window: o.Window, Clock: o.Clock, Logger: o.Logger, Parallelism: o.Parallelism, Grace: o.Grace})
	return s, nil
}

// Handler serves the service's HTTP endpoints.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	s.routeOps(mux)
	s.routeHooks(mux)
	return mux
}

// HookHandler serves the webhooks, /healthz and /readyz only: for a
// listener that registries reach, when the operational endpoints have one
// of their own (OpsHandler).
func (s *Service) HookHandler() http.Handler {
	mux := http.NewServeMux()
	s.routeHealth(mux)
	s.routeHooks(mux)
	return mux
}

// OpsHandler serves /metrics, /status, /healthz and /readyz.
func (s *Service) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	s.routeOps(mux)
	return mux
}

func (s *Service) routeOps(mux *http.ServeMux) {
	mux.Handle("/metrics", promhttp.HandlerFor(s.o.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/status", s.serveStatus)
	if s.o.Profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s.routeHealth(mux)
}

func (s *Service) routeHealth(mux *http.ServeMux) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
}

func (s *Service) routeHooks(mux *http.ServeMux) {
	mux.HandleFunc(webhook.PathPrefix, func(w http.ResponseWriter, r *http.Request) {
		h := s.hooks.Load()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Load loads the configuration for the first time; an invalid one is an
// error (hoist run exits 2).
func (s *Service) Load() (*config.Set, error) {
	set, err := s.source.Load()
	if err != nil {
		return nil, err
	}
	s.logWarnings(set)
	return set, s.apply(set)
}

// logWarnings logs the configuration's warnings, such as a token in a Git
// URL, one line each.
func (s *Service) logWarnings(set *config.Set) {
	for _, w := range set.Warnings {
		s.log.Warn("configuration warning", "warning", w.String())
	}
}

// Rescan scans the ImageRepository NAMESPACE/NAME now, as its webhook
// would (the Kubernetes controller's reconcile.fluxcd.io/requestedAt). It
// reports whether the repository is scheduled.
func (s *Service) Rescan(repository string) bool {
	return s.sched.Trigger(repoJobPrefix + repository)
}

// RunNow runs the ImageUpdateAutomation NAMESPACE/NAME now, as its
// interval would. It reports whether the run was queued.
func (s *Service) RunNow(key string) bool {
	if s.cur.Load().automation(key) == nil {
		return false
	}
	return s.batch.AddNow(s.gitKey(key), key)
}

func (s *Service) reload(set *config.Set) {
	s.logWarnings(set)
	if err := s.apply(set); err != nil {
		s.log.Error("applying the new configuration; the previous one keeps running", "error", err)
		return
	}
	s.log.Info("configuration reloaded", "policies", len(set.Policies), "automations", len(set.Automations))
}

// Run runs the service (after Load) until ctx is done, then finishes or
// abandons the work in progress within the grace period.
func (s *Service) Run(ctx context.Context) error {
	set := s.cur.Load()
	if set == nil {
		return errors.New("service: Load first")
	}
	if !s.writeThrough {
		s.records.start()
		// The scans and runs have ended (or were abandoned at the end of
		// the grace period): what they recorded is written before the
		// store is closed.
		defer s.records.stop()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	watch := func(ctx context.Context) error { return s.source.Run(ctx, s.reload) }
	for _, run := range []func(context.Context) error{s.sched.Run, s.batch.Run, watch} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- err
			}
		}()
	}
	s.mu.Lock()
	s.started = time.Now()
	s.mu.Unlock()
	s.ready.Store(true)
	s.log.Info("hoist is running", "repositories", len(set.Repositories), "policies", len(set.Policies), "automations", len(set.Automations), "receivers", len(set.Receivers))
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// firstRoundDone reports, once, that every repository of the running
// configuration has been scanned since start (s.mu held).
func (s *Service) firstRoundDone() bool {
	if s.roundDone || len(s.scanned) == s.roundChecked {
		return false
	}
	s.roundChecked = len(s.scanned)
	set := s.cur.Load()
	if len(s.scanned) < set.active {
		return false
	}
	for k, r := range set.repos {
		if _, ok := s.scanned[k]; !ok && !r.Spec.Suspend {
			return false
		}
	}
	s.roundDone = true
	return true
}

// releaseStartupMemory runs when every repository has been scanned once:
// the first round lists every tag list at the rate limit's pace, and the
// garbage it leaves would otherwise stay resident (the Go runtime gives
// memory back to the system slowly) until long after. One collection now
// returns it; later rounds, whose lists are mostly unchanged, make far
// less.
func (s *Service) releaseStartupMemory(since time.Duration) {
	s.log.Info("every repository scanned", "repositories", s.cur.Load().active, "after", since.Round(time.Millisecond))
	debug.FreeOSMemory()
}

// firstRunsDone notes that the automations keys ran, and reports, once,
// that every automation of the running configuration (not suspended) has
// run since start, the first round of scans done: the runs that waited for
// the round (waitingLocked) come after it, first clones included, and
// their garbage is handed back as the round's is.
func (s *Service) firstRunsDone(keys []string) (automations int, done bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runsDone {
		return 0, false
	}
	if s.ran == nil {
		s.ran = map[string]bool{}
	}
	for _, k := range keys {
		s.ran[k] = true
	}
	if !s.roundDone {
		return 0, false
	}
	for k, a := range s.cur.Load().automations {
		if a.Spec.Suspend {
			continue
		}
		if !s.ran[k] {
			return 0, false
		}
		automations++
	}
	if automations == 0 {
		return 0, false
	}
	s.runsDone, s.ran = true, nil
	return automations, true
}

// Key prefixes of scheduled jobs.
const (
	repoJobPrefix = "repository:"
	autoJobPrefix = "automation:"
)

// scanGroup is the Scheduler group of the scan of image: its registry
// host, so that a slow or failing host fills its own Parallelism slots and
// the scans of other hosts (and webhooks' rescans of them) do not wait
// behind its scans. An image whose host does not parse shares one group.
func scanGroup(image string) string {
	return repoJobPrefix + automation.ImageHost(image)
}

// apply makes set the running configuration: jobs, receivers.
func (s *Service) apply(set *config.Set) error {
	var jobs []Job
	for _, r := range set.Repositories {
		if r.Spec.Suspend {
			continue
		}
		key := r.Namespace + "/" + r.Name
		jobs = append(jobs, Job{Key: repoJobPrefix + key, Interval: durationOr(r.Spec.Interval.Duration, config.DefaultInterval), Group: scanGroup(r.Spec.Image), Run: func(ctx context.Context) error {
			return s.scanRepository(ctx, key)
		}})
	}
	for _, a := range set.Automations {
		if a.Spec.Suspend {
			continue
		}
		key := a.Namespace + "/" + a.Name
		jobs = append(jobs, Job{Key: autoJobPrefix + key, Group: autoJobPrefix, Interval: durationOr(a.Spec.Interval.Duration, config.DefaultInterval), Run: func(context.Context) error {
			if s.deferRun(key) {
				return nil
			}
			s.batch.AddNow(s.gitKey(key), key)
			return nil
		}})
	}
	hooks, err := s.receivers(set)
	if err != nil {
		return err
	}
	ix := indexSet(set)
	old := s.cur.Swap(ix)
	if err := s.sched.Update(jobs); err != nil {
		return err
	}
	s.hooks.Store(hooks)
	if old == nil {
		s.resume(ix)
	}
	if old != nil {
		s.forgetRepositories(old, ix)
		if sc := s.o.Runner.Scanner; sc != nil {
			sc.Forget(set)
		}
		for _, key := range s.carryKnown(old, ix) {
			s.sched.Trigger(repoJobPrefix + key)
		}
		for _, key := range changedAutomations(old, ix) {
			if !s.deferRun(key) {
				s.batch.AddNow(s.gitKey(key), key)
			}
		}
	}
	return nil
}

// changedAutomations returns the automations (keys) that set holds, not
// suspended, whose documents differ from old's: their run is due now, not
// at their next interval, as Flux's controller reconciles an
// ImageUpdateAutomation whose spec changed, and as an Application that Argo
// CD now reports running an image (status.summary.images) has it written.
// A reload that leaves an automation as it was runs nothing.
func changedAutomations(old, set *indexedSet) []string {
	var keys []string
	for _, a := range set.Automations {
		key := a.Namespace + "/" + a.Name
		prev := old.automation(key)
		if prev == nil || a.Spec.Suspend || sameAutomation(prev, a) {
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

// sameAutomation reports whether two automations run alike: the same
// spec, Argo CD Application and GitRepository spec.
func sameAutomation(a, b *config.Automation) bool {
	if (a.GitRepository == nil) != (b.GitRepository == nil) {
		return false
	}
	return reflect.DeepEqual(a.Spec, b.Spec) && reflect.DeepEqual(a.ArgoCD, b.ArgoCD) &&
		(a.GitRepository == nil || reflect.DeepEqual(a.GitRepository.Spec, b.GitRepository.Spec))
}

// forgetRepositories removes the metrics of old's repositories and
// automations that set no longer has.
func (s *Service) forgetRepositories(old, set *indexedSet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, r := range s.recorded {
		if set.policy(k) != r.policy {
			delete(s.recorded, k)
		}
	}
	for _, r := range old.Repositories {
		if set.repository(r.Namespace+"/"+r.Name) == nil {
			s.o.Metrics.ForgetRepository(r.Namespace + "/" + r.Name)
		}
	}
	for _, a := range old.Automations {
		if key := a.Namespace + "/" + a.Name; set.automations[key] == nil {
			s.o.Metrics.ForgetAutomation(key)
		}
	}
}

// carryKnown moves the known selections of policies that a reload left as
// they were onto the new documents, and returns the repositories (keys)
// whose policies are new or changed: their scans are due now, not at their
// next interval, so that runs meanwhile do not each scan them.
func (s *Service) carryKnown(old, set *indexedSet) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	due := map[string]bool{}
	for _, p := range set.Policies {
		if p.Repository == nil || p.Spec.Suspend || p.Repository.Spec.Suspend {
			continue
		}
		key := p.Namespace + ":" + p.Name
		k, ok := s.known[key]
		prev := old.policy(key)
		if ok && k.of(prev) && sameDocuments(prev, p) {
			s.known[key] = knownSelection{policy: p.ImagePolicy, repo: p.Repository.ImageRepository, ref: k.ref}
			continue
		}
		delete(s.known, key)
		due[p.Repository.Namespace+"/"+p.Repository.Name] = true
	}
	return slices.Sorted(maps.Keys(due))
}

// of reports whether k was scanned from p's documents.
func (k knownSelection) of(p *config.Policy) bool {
	return p != nil && p.Repository != nil && p.ImagePolicy == k.policy && p.Repository.ImageRepository == k.repo
}

// sameDocuments reports whether two policies select alike: the same
// specs of the policy and of its ImageRepository, under the same group.
func sameDocuments(a, b *config.Policy) bool {
	return a != nil && b != nil && a.Repository != nil && b.Repository != nil &&
		a.Source.Flux == b.Source.Flux &&
		reflect.DeepEqual(a.Spec, b.Spec) && reflect.DeepEqual(a.Repository.Spec, b.Repository.Spec)
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// receivers builds the webhook handler of set's Receivers.
func (s *Service) receivers(set *config.Set) (*webhook.Handler, error) {
	var rs []webhook.Receiver
	byID := make(map[string]*receiverTargets, len(set.Receivers))
	for _, r := range set.Receivers {
		var token string
		if r.Spec.Type != webhook.TypeGenericOIDC { // no token: its requests carry ID tokens
			var err error
			if token, err = webhook.ReadToken(s.o.Runner.SecretsDir, r.Spec.SecretRef.Name); err != nil {
				s.log.Error("receiver disabled: its token cannot be read", "receiver", r.Namespace+"/"+r.Name, "error", err)
				continue
			}
		}
		var resources []string
		for _, res := range r.Spec.Resources {
			ns := res.Namespace
			if ns == "" {
				ns = r.Namespace
			}
			resources = append(resources, ns+"/"+res.Name)
		}
		wr := webhook.Receiver{Name: r.Name, Namespace: r.Namespace, Type: r.Spec.Type, Token: token,
			Events: r.Spec.Events, Resources: resources, ResourceFilter: r.Spec.ResourceFilter, Suspended: r.Spec.Suspend,
			OIDCProviders: config.OIDCProviders(r.Spec.OIDCProviders)}
		if r.Spec.Type == webhook.TypeGCR {
			// Flux's optional keys: the ID token's audience and email.
			aud, errA := webhook.ReadSecretKey(s.o.Runner.SecretsDir, r.Spec.SecretRef.Name, "audience")
			email, errE := webhook.ReadSecretKey(s.o.Runner.SecretsDir, r.Spec.SecretRef.Name, "email")
			if err := errors.Join(errA, errE); err != nil {
				s.log.Error("receiver disabled: its secret cannot be read", "receiver", r.Namespace+"/"+r.Name, "error", err)
				continue
			}
			wr.Audience, wr.Email = aud, email
		}
		rs = append(rs, wr)
		targets := newReceiverTargets(set, r)
		targets.each = s.webhookEach
		byID[r.Namespace+"/"+r.Name] = targets
	}
	if len(rs) == 0 {
		return nil, nil
	}
	observe := func(receiver, outcome string) { s.o.Metrics.WebhookRequest(receiver, outcome) }
	keys := s.o.IDTokenKeys
	if keys == nil {
		keys = webhook.NewJWKS(webhook.GoogleJWKSURL, nil, nil)
	}
	opts := []webhook.Option{webhook.WithLogger(s.log), webhook.WithObserver(observe), webhook.WithIDTokenKeys(keys, nil)}
	if s.o.WebhookMaxBody > 0 {
		opts = append(opts, webhook.WithBodyLimit(s.o.WebhookMaxBody))
	}
	return webhook.NewHandler(rs, func(ctx context.Context, r webhook.Receiver, req webhook.Request) error {
		return s.onWebhook(ctx, byID[r.String()], req)
	}, opts...)
}

// receiverTargets are a receiver's ImageRepositories, found once per
// configuration, and keyed by their image (webhook.Key), so that a
// request that names an image looks its repositories up instead of
// comparing it with every image of the receiver.
type receiverTargets struct {
	rc      *config.Receiver
	repos   []*config.Repository
	byImage map[string][]*config.Repository
	// err is why the receiver's resources cannot be found (one that does
	// not exist): every request fails with it.
	err error
	// each compares each repository's image with the request's, and
	// builds each one's document, as before (benchmarks compare).
	each bool
}

func newReceiverTargets(set *config.Set, rc *config.Receiver) *receiverTargets {
	repos, err := set.ReceiverRepositories(rc)
	t := &receiverTargets{rc: rc, repos: repos, err: err, byImage: map[string][]*config.Repository{}}
	for _, r := range repos {
		if k, ok := webhook.Key(r.Spec.Image); ok {
			t.byImage[k] = append(t.byImage[k], r)
		}
	}
	return t
}

// selected are the repositories whose image one of images names, in the
// receiver's order; all of them when images is nil (see webhook.Selects).
func (t *receiverTargets) selected(images []string) []*config.Repository {
	if images == nil {
		return t.repos
	}
	if t.each {
		var out []*config.Repository
		for _, r := range t.repos {
			_ = config.ResourceDocument(r.ImageRepository, r.Source.APIVersion) // for Keep, as before
			if webhook.Selects(images, r.Spec.Image) {
				out = append(out, r)
			}
		}
		return out
	}
	if len(images) == 1 {
		k, _ := webhook.Key(images[0])
		return t.byImage[k] // in the receiver's order, as built
	}
	// Several images may name one repository: each once, in the
	// receiver's order.
	picked := map[*config.Repository]bool{}
	for _, img := range images {
		if k, ok := webhook.Key(img); ok {
			for _, r := range t.byImage[k] {
				picked[r] = true
			}
		}
	}
	var out []*config.Repository
	for _, r := range t.repos {
		if picked[r] {
			out = append(out, r)
		}
	}
	return out
}

// onWebhook triggers a rescan of the receiver's ImageRepositories (named,
// or selected by labels) whose image the payload names (all of them when it
// names none) and that its resourceFilter keeps: the filter is evaluated
// for those only. A resource that does not exist, or a filter that fails,
// fails the whole request and rescans nothing. The payload's tag is never
// written: the rescan asks the registry.
func (s *Service) onWebhook(ctx context.Context, targets *receiverTargets, req webhook.Request) error {
	if targets == nil {
		return errors.New("receiver no longer configured")
	}
	if targets.err != nil {
		return targets.err
	}
	rc := targets.rc
	var keep []*config.Repository
	for _, repo := range targets.selected(req.Images) {
		if req.Filtered() {
			ok, err := req.Keep(ctx, config.ResourceDocument(repo.ImageRepository, repo.Source.APIVersion))
			if err != nil {
				return fmt.Errorf("ImageRepository %s/%s: %w", repo.Namespace, repo.Name, err)
			}
			if !ok {
				s.log.Debug("webhook: excluded by resourceFilter", "receiver", rc.Namespace+"/"+rc.Name, "repository", repo.Namespace+"/"+repo.Name)
				continue
			}
		}
		keep = append(keep, repo)
	}
	for _, repo := range keep {
		if repo.Spec.Suspend {
			continue
		}
		key := repo.Namespace + "/" + repo.Name
		s.log.Info("webhook: rescanning", "receiver", rc.Namespace+"/"+rc.Name, "repository", key)
		s.sched.Trigger(repoJobPrefix + key)
		s.recheckLater(repoJobPrefix + key)
	}
	return nil
}

// recheckLater triggers the job key again WebhookRecheck after its last
// call, so that a tag the registry lists only after its notification is
// still picked up. The scheduler folds a trigger during a run into one
// re-run, so a storm of webhooks costs at most one more scan.
func (s *Service) recheckLater(key string) {
	if s.o.WebhookRecheck < 0 {
		return
	}
	s.recheckMu.Lock()
	defer s.recheckMu.Unlock()
	if old := s.rechecks[key]; old != nil {
		old.timer.Stop()
	}
	rc := &recheck{}
	rc.timer = s.o.Clock.AfterFunc(s.o.WebhookRecheck, func() {
		s.recheckMu.Lock()
		if s.rechecks[key] == rc {
			delete(s.rechecks, key)
		}
		s.recheckMu.Unlock()
		s.sched.Trigger(key)
	})
	s.rechecks[key] = rc
}

// scanRepository scans one ImageRepository's policies, records changed
// selections and queues the automations that use them.
func (s *Service) scanRepository(ctx context.Context, key string) error {
	set := s.cur.Load()
	repo := set.repository(key)
	if repo == nil {
		return nil
	}
	policies := set.repoPolicies[repo]
	byKey := make(map[string]*config.Policy, len(policies))
	for _, p := range policies {
		byKey[p.Namespace+":"+p.Name] = p
	}
	start := time.Now()
	sels := s.o.Runner.Scanner.Scan(ctx, &config.Set{Policies: policies})
	var scanErr error
	changed := map[string]bool{}
	stale := false
	for _, sel := range sels {
		s.noteError("policy "+sel.Key(), sel.Err)
		s.noteWarning(sel.Key(), sel.Warning)
		if sel.Stale {
			stale = true
			s.log.Warn("registry failed transiently; using the cached tag list", "policy", sel.Key(), "repository", key, "warning", sel.Warning)
		}
		if sel.Err != nil {
			s.forget(sel.Key())
			scanErr = errors.Join(scanErr, sel.Err)
			continue
		}
		if s.recordSelection(byKey[sel.Key()], sel) {
			changed[sel.Key()] = true
		}
	}
	took := time.Since(start)
	if s.o.Observer != nil {
		s.o.Observer.Scanned(key, sels)
	}
	s.mu.Lock()
	s.scanned[key] = time.Now()
	// apply forgets the series of a repository that left the
	// configuration under the same lock: a scan it overtook does not bring
	// them back.
	if s.cur.Load().repository(key) != nil {
		s.o.Metrics.ScanDone(key, repo.Spec.Image, took, scanErr)
		s.o.Metrics.Stale(key, stale)
	}
	roundDone, since := s.firstRoundDone(), time.Since(s.started)
	s.mu.Unlock()
	if roundDone {
		s.releaseStartupMemory(since)
	}
	s.log.Debug("repository scanned", "repository", key, "policies", len(policies), "changed", len(changed))
	var runs []*config.Automation
	if len(policies) == 0 {
		// The repository's policies may live in the Git repositories
		// themselves: let every automation look.
		for _, a := range set.Automations {
			if !a.Spec.Suspend && !s.deferRun(a.Namespace+"/"+a.Name) {
				runs = append(runs, a)
			}
		}
	}
	for _, a := range append(runs, s.runsAfterScan(set, policies, changed)...) {
		s.batch.Add(automation.GitKey(a), a.Namespace+"/"+a.Name)
	}
	return scanErr
}

// runsAfterScan returns the automations that a scan of a repository whose
// policies are policies queues: those that use a policy whose selection
// changed, and those whose run waited for this scan (deferred), unless
// they still wait for another (waitingLocked).
func (s *Service) runsAfterScan(set *indexedSet, policies []*config.Policy, changed map[string]bool) []*config.Automation {
	if len(changed) == 0 && !s.anyDeferred() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*config.Automation
	seen := map[*config.Automation]bool{}
	for _, p := range policies {
		isChanged := changed[p.Namespace+":"+p.Name]
		for _, a := range set.policyAutomations[p] {
			key := a.Namespace + "/" + a.Name
			if seen[a] || !isChanged && !s.deferred[key] {
				continue
			}
			seen[a] = true
			if s.waitingLocked(set, a) {
				s.deferred[key] = true
				continue
			}
			delete(s.deferred, key)
			out = append(out, a)
		}
	}
	if s.roundDone {
		// Every repository was scanned: none waits any longer (one whose
		// policies a reload moved, say).
		for _, key := range slices.Sorted(maps.Keys(s.deferred)) {
			if a := set.automation(key); a != nil && !seen[a] {
				out = append(out, a)
			}
		}
		clear(s.deferred)
	}
	return out
}

// anyDeferred reports whether some automation's run waits for first scans.
func (s *Service) anyDeferred() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.deferred) > 0
}

// deferRun reports whether the run of the automation key waits for the
// first scans of its policies, and if so marks it deferred: the scan that
// ends its wait queues it (runsAfterScan).
func (s *Service) deferRun(key string) bool {
	set := s.cur.Load()
	a := set.automation(key)
	if a == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.waitingLocked(set, a) {
		return false
	}
	s.deferred[key] = true
	return true
}

// waitingLocked reports whether the automation a waits for the first scan
// of one of its policies (s.mu held): a policy the service scans (neither
// it nor its repository suspended) whose selection is not known (nor
// resumed from the state store) and whose repository has not been scanned
// since start. A run would scan such a policy itself, at the registry's
// expense, while the scan due anyway comes within the start-up spread: at
// the start of a service of thousands of repositories, the runs that each
// first selection queued scanned their automation's other policies over
// and over, five registry requests a scan instead of one
// (BenchmarkStartup). A policy whose scan failed no longer holds the run
// back: the run scans it and reports why. Once every repository was
// scanned (firstRoundDone), nothing waits.
func (s *Service) waitingLocked(set *indexedSet, a *config.Automation) bool {
	if s.roundDone || s.runsScan {
		return false
	}
	for _, p := range set.automationPolicies[a] {
		r := p.Repository
		if r == nil || p.Spec.Suspend || r.Spec.Suspend {
			continue
		}
		if _, ok := s.known[p.Namespace+":"+p.Name]; ok {
			continue
		}
		if _, ok := s.scanned[r.Namespace+"/"+r.Name]; !ok {
			return true
		}
	}
	return false
}

// recordSelection stores the selection of p and reports whether it
// changed.
//
// The state store is read and written outside the service's lock, and
// written behind the scan (selectionWriter): webhooks, runs and the next
// scans do not queue behind a write's sync. A repository's scans do not
// overlap (the scheduler runs one job per key at a time), so its policies'
// records are not handed over concurrently.
func (s *Service) recordSelection(p *config.Policy, sel automation.Selection) bool {
	s.mu.Lock()
	// A scan that a reload overtook counts for the running documents only
	// if they select alike.
	if cur := s.cur.Load().policy(sel.Key()); cur != nil && (cur == p || sameDocuments(p, cur)) {
		s.known[sel.Key()] = knownSelection{policy: cur.ImagePolicy, repo: cur.Repository.ImageRepository, ref: sel.Ref}
	}
	s.mu.Unlock()
	st := s.o.Runner.State
	if st == nil {
		return true
	}
	// A scan that selects as the last one did, from the same documents
	// and tag list, reads and writes nothing: most rescans at rest. Not
	// while a newer record of the policy waits to be written: the store
	// is to hold this scan's, and the selection went back to it.
	last := recordedSelection{policy: p, ref: sel.Ref, tagsSum: sel.TagsSum, candidates: sel.Candidates, dropped: sel.Dropped}
	s.mu.Lock()
	same := s.recorded[sel.Key()] == last
	s.mu.Unlock()
	if same && !s.records.waits(sel.Key()) {
		return false
	}
	// remember is called once the store holds what this scan found.
	remember := func() {
		s.mu.Lock()
		s.recorded[sel.Key()] = last
		s.mu.Unlock()
	}
	rec := state.SelectionRecord{Ref: sel.Ref, Tag: sel.Tag, Digest: sel.Digest, At: time.Now(),
		Fingerprint: automation.Fingerprint(p), Candidates: sel.Candidates, Dropped: sel.Dropped}
	if sel.TagsSum != ([32]byte{}) {
		rec.TagsSum = hex.EncodeToString(sel.TagsSum[:])
	}
	prev, ok, stored, err := s.records.get(sel.Key())
	if err == nil && ok && prev.Ref == sel.Ref {
		// The same selection: what a restart resumes from (resume) is
		// brought up to date when it differs, as after a new tag that
		// the policy does not select, or an older hoist's record; and
		// a record not yet written (its write failed, say) is handed
		// over again.
		if stored && prev.Fingerprint == rec.Fingerprint && prev.TagsSum == rec.TagsSum && prev.Candidates == rec.Candidates && prev.Dropped == rec.Dropped {
			remember()
			return false
		}
		rec.At = prev.At
		s.records.put(sel.Key(), rec, remember)
		return false
	}
	s.records.put(sel.Key(), rec, remember)
	s.o.Metrics.SelectionChanged(sel.Key())
	s.log.Info("selection changed", "policy", sel.Key(), "from", prev.Ref, "to", sel.Ref)
	return true
}

// recordedSelection is what recordSelection last saw the state store hold
// for a policy, as it was scanned.
type recordedSelection struct {
	policy              *config.Policy
	ref                 string
	tagsSum             [32]byte
	candidates, dropped int
}

// resume continues, after a restart, from the selections the state store
// kept: each policy whose stored selection was made from its documents as
// they are now (the same Fingerprint) is known with it, so that an
// automation's first run writes it instead of scanning the policy again,
// and the scanner remembers it, so that the first rescan finding the same
// tag list does not select again. A policy whose documents changed while
// hoist was down, and a record of an older hoist, are scanned afresh. The
// repositories' scans still come on their schedule: a tag pushed while
// hoist was down is found then, as any new tag.
func (s *Service) resume(set *indexedSet) {
	st := s.o.Runner.State
	if st == nil {
		return
	}
	recs, err := st.Selections()
	if err != nil {
		s.log.Warn("reading the stored selections; every policy is scanned afresh", "error", err)
		return
	}
	resumed := 0
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, rec := range recs {
		p := set.policy(key)
		if p == nil || p.Repository == nil || p.Spec.Suspend || p.Repository.Spec.Suspend ||
			rec.Ref == "" || rec.Fingerprint == "" || rec.Fingerprint != automation.Fingerprint(p) {
			continue
		}
		s.known[key] = knownSelection{policy: p.ImagePolicy, repo: p.Repository.ImageRepository, ref: rec.Ref}
		resumed++
		sum, err := hex.DecodeString(rec.TagsSum)
		if err != nil || len(sum) != len([32]byte{}) || s.o.Runner.Scanner == nil {
			continue
		}
		// A selection from the tag list alone has no digest of its own:
		// the scan resolves the one its digestReflectionPolicy asks for.
		s.o.Runner.Scanner.Remember(p, [32]byte(sum), policy.Result{Tag: rec.Tag, Candidates: rec.Candidates, Dropped: rec.Dropped})
	}
	if len(recs) > 0 {
		s.log.Info("selections resumed from the state store", "policies", resumed, "stored", len(recs))
	}
}

// forget drops the known selection of a policy whose scan failed, so that
// the next automation run scans it and reports why.
func (s *Service) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.known, key)
}

// knownSelection answers automation.Runner.RunKnown with the last scan of p, when that
// scan was of p's documents (config.LoadOnto carries them into an
// automation's effective set); a policy that a Git repository defines
// itself has no scan here and is scanned by the run.
func (s *Service) knownSelection(p *config.Policy) (string, bool) {
	if p == nil || p.Repository == nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.known[p.Namespace+":"+p.Name]
	if !ok || !k.of(p) {
		return "", false
	}
	return k.ref, true
}

// gitKey is the batch key of an automation: its Git repository and branch,
// so that all work on one repository is serialised.
func (s *Service) gitKey(key string) string {
	a := s.cur.Load().automation(key)
	if a == nil {
		return key
	}
	return automation.GitKey(a)
}

// flush runs the automations queued for one Git repository, once the
// selections recorded before are in the state store.
func (s *Service) flush(ctx context.Context, _ string, automations []string) error {
	s.records.wait()
	set := s.cur.Load()
	seen := map[string]bool{}
	var keys []string
	for _, k := range automations {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		a := set.automation(k)
		if a == nil || a.Spec.Suspend {
			continue
		}
		res := s.o.Runner.RunKnown(ctx, set.Set, a, s.knownSelection)
		s.noteError("automation "+k, runError(res))
		s.noteKept(k, res.Kept)
		for _, c := range res.Kept {
			s.log.Info("change kept back", "automation", k, "file", c.File, "line", c.Line, "old", c.Old, "new", c.New, "policy", c.Policy, "reason", string(c.Reason))
		}
		if s.o.Observer != nil {
			s.o.Observer.Ran(res)
		}
		switch {
		case res.Err != nil:
			errs = append(errs, res.Err)
		case res.Pushed:
			s.log.Info("automation pushed", "automation", k, "commit", res.Commit, "branch", res.Branch, "changes", len(res.Changes))
		default:
			s.log.Debug("automation: nothing to do", "automation", k)
		}
		for _, e := range res.Errors {
			s.log.Warn("automation target failed", "automation", k, "error", e)
		}
	}
	if n, done := s.firstRunsDone(keys); done {
		s.log.Info("every automation ran", "automations", n, "after", time.Since(s.started).Round(time.Millisecond))
		debug.FreeOSMemory()
	}
	return errors.Join(errs...)
}

// indexedSet is the running configuration with the lookups that scans,
// webhooks and reloads make, by key: with walks over every object instead,
// the scans of 10,000 repositories cost the square of that (each scan
// looked its repository, its policies and their automations up among all).
// It is built once per configuration and read-only after.
type indexedSet struct {
	*config.Set
	repos       map[string]*config.Repository // by NAMESPACE/NAME
	policies    map[string]*config.Policy     // by NAMESPACE:NAME
	automations map[string]*config.Automation // by NAMESPACE/NAME
	// repoPolicies are each repository's policies, in document order.
	repoPolicies map[*config.Repository][]*config.Policy
	// policyAutomations are the automations (not suspended) that apply
	// each policy, in document order, and automationPolicies the policies
	// of each automation (not suspended).
	policyAutomations  map[*config.Policy][]*config.Automation
	automationPolicies map[*config.Automation][]*config.Policy
	// active counts the repositories (by key) not suspended.
	active int
}

// indexSet indexes set. Where two objects have the same key, the first
// one wins, as with config.Set's lookups.
func indexSet(set *config.Set) *indexedSet {
	ix := &indexedSet{
		Set:                set,
		repos:              make(map[string]*config.Repository, len(set.Repositories)),
		policies:           make(map[string]*config.Policy, len(set.Policies)),
		automations:        make(map[string]*config.Automation, len(set.Automations)),
		repoPolicies:       make(map[*config.Repository][]*config.Policy, len(set.Repositories)),
		policyAutomations:  make(map[*config.Policy][]*config.Automation, len(set.Policies)),
		automationPolicies: make(map[*config.Automation][]*config.Policy, len(set.Automations)),
	}
	for _, r := range set.Repositories {
		if k := r.Namespace + "/" + r.Name; ix.repos[k] == nil {
			ix.repos[k] = r
			if !r.Spec.Suspend {
				ix.active++
			}
		}
	}
	for _, p := range set.Policies {
		if k := p.Namespace + ":" + p.Name; ix.policies[k] == nil {
			ix.policies[k] = p
		}
		if p.Repository != nil {
			ix.repoPolicies[p.Repository] = append(ix.repoPolicies[p.Repository], p)
		}
	}
	for _, a := range set.Automations {
		if k := a.Namespace + "/" + a.Name; ix.automations[k] == nil {
			ix.automations[k] = a
		}
		if a.Spec.Suspend {
			continue
		}
		ps, err := set.PoliciesFor(a)
		if err != nil {
			continue
		}
		ix.automationPolicies[a] = ps
		for _, p := range ps {
			ix.policyAutomations[p] = append(ix.policyAutomations[p], a)
		}
	}
	return ix
}

// repository is the ImageRepository NAMESPACE/NAME, or nil.
func (ix *indexedSet) repository(key string) *config.Repository { return ix.repos[key] }

// policy is the ImagePolicy NAMESPACE:NAME, or nil.
func (ix *indexedSet) policy(key string) *config.Policy { return ix.policies[key] }

// automation is the ImageUpdateAutomation NAMESPACE/NAME, or nil.
func (ix *indexedSet) automation(key string) *config.Automation { return ix.automations[key] }
