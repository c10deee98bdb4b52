package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/controller"
	"github.com/hoist-dev/hoist/service"
)

// controllerOptions are the flags of hoist controller.
type controllerOptions struct {
	kubeconfig       string
	namespaces       []string
	labelSelector    string
	leaderElect      bool
	leaderElectionNS string
	leaderElectionID string
	leaderElection   leaderElectionTimes
	kubeAPIQPS       float32
	kubeAPIBurst     int
	listen           string
	opsListen        string
	concurrent       int
	logFormat        string
	logLevel         string
	window           time.Duration
	spread           time.Duration
	grace            time.Duration
	statusRefresh    time.Duration
	requeueDep       time.Duration
	eventsAddr       string
	reg              registryFlags
	// imageUpdaterNS is the namespace of Argo CD Image Updater's
	// ConfigMap.
	imageUpdaterNS string
}

func newControllerCommand() *cobra.Command {
	var o controllerOptions
	cmd := &cobra.Command{
		Use:   "controller [--kubeconfig FILE]",
		Short: "Run as a Kubernetes controller of hoist.dev custom resources",
		Long: `Controller runs hoist in a Kubernetes cluster: the ImageRepository, ImagePolicy and
ImageUpdateAutomation custom resources of hoist.dev/v1alpha1 (config/crd) are its
documents, and it writes what it selected and pushed to their status
(kubectl get imagepolicies shows the latest image), with events on a new
selection, a push and a failure. The loop is the service's (hoist run): scans on
each repository's interval, webhooks, one commit per window.

It reaches the API server with --kubeconfig, else $KUBECONFIG, else the pod's
service account. --watch-namespaces and --watch-label-selector restrict the
objects it acts on (sharding: one controller per shard label value);
--leader-elect makes replicas share one Lease so that one of them works at a
time.`,
		Example: `  hoist controller --kubeconfig ~/.kube/config --state-dir /tmp/hoist
  hoist controller --leader-elect --watch-label-selector 'sharding.hoist.dev/key in (shard1)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runController(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, else in-cluster)")
	f.StringSliceVar(&o.namespaces, "watch-namespaces", nil, "namespaces whose objects are acted on (default all)")
	f.StringVar(&o.labelSelector, "watch-label-selector", "", "label selector of the objects acted on, for sharding: sharding.hoist.dev/key in (shard1)")
	f.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader among replicas on a coordination.k8s.io Lease; only the leader works")
	f.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's)")
	f.StringVar(&o.leaderElectionID, "leader-election-id", "hoist-controller.hoist.dev", "name of the leader election Lease")
	o.leaderElection.register(f)
	f.Float32Var(&o.kubeAPIQPS, "kube-api-qps", 50, "requests per second to the API server, at most (negative: no client-side limit, API Priority and Fairness only)")
	f.IntVar(&o.kubeAPIBurst, "kube-api-burst", 300, "requests to the API server in a burst above --kube-api-qps")
	f.StringVar(&o.listen, "listen", "127.0.0.1:9393", "address of the webhooks (/hook/), and of /metrics, /status, /healthz and /readyz unless --ops-listen is set")
	f.StringVar(&o.opsListen, "ops-listen", "", "a separate address for /metrics and /status (and /healthz, /readyz)")
	f.IntVar(&o.concurrent, "concurrent", 4, "objects of one kind reconciled at once, and Git repositories worked on at once")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.DurationVar(&o.window, "commit-window", 5*time.Second, "selection changes within this window go into one commit (0: commit each change at once)")
	f.DurationVar(&o.spread, "startup-spread", service.DefaultStartupSpread, "first scans and runs start spread over this long (0: all at once)")
	f.DurationVar(&o.grace, "grace-period", 25*time.Second, "how long SIGTERM waits for the commit in progress")
	f.StringVar(&o.eventsAddr, "events-addr", "", "post every event to this URL in Flux's event format (notification-controller's, such as http://notification-controller.flux-system.svc.cluster.local./) instead of sending to the Providers of Flux's Alerts itself")
	f.StringVar(&o.imageUpdaterNS, "argocd-image-updater-namespace", config.ArgoImageUpdaterNamespace, "namespace of Argo CD Image Updater's ConfigMap (argocd-image-updater-config), read when Argo CD's Applications are served (\"\": none)")
	f.DurationVar(&o.requeueDep, "requeue-dependency", 30*time.Second, "how soon an ImagePolicy waiting for its ImageRepository's first scan is looked at again (as Flux's flag; the scan itself updates it at once, this is the safety net)")
	f.DurationVar(&o.statusRefresh, "status-refresh", time.Hour, "a scan or run that changed nothing writes its time (lastScanResult.scanTime, lastAutomationRunTime) only once the one in the status is this old (0: on every scan and run, as Flux does)")
	o.reg.register(f)
	return cmd
}

// restConfig is the API server's client configuration: --kubeconfig, else
// $KUBECONFIG, in-cluster or ~/.kube/config (controller-runtime's order).
func (o controllerOptions) restConfig() (*rest.Config, error) {
	if o.kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", o.kubeconfig, err)
		}
		return o.rateLimited(cfg), nil
	}
	cfg, err := ctrlconfig.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("finding the API server (set --kubeconfig): %w", err)
	}
	return o.rateLimited(cfg), nil
}

// rateLimited sets cfg's client-side rate limit to --kube-api-qps and
// --kube-api-burst, whichever way cfg was found (client-go's default of 5
// requests a second applied with --kubeconfig only, none in a pod: 1,000
// policies took four minutes to get their status with a kubeconfig).
func (o controllerOptions) rateLimited(cfg *rest.Config) *rest.Config {
	cfg.QPS, cfg.Burst = o.kubeAPIQPS, o.kubeAPIBurst
	return cfg
}

// cacheOptions restrict the objects watched to --watch-namespaces and
// --watch-label-selector.
func (o controllerOptions) cacheOptions() (cache.Options, error) {
	var co cache.Options
	if o.labelSelector != "" {
		sel, err := labels.Parse(o.labelSelector)
		if err != nil {
			return co, fmt.Errorf("--watch-label-selector %q: %w", o.labelSelector, err)
		}
		co.DefaultLabelSelector = sel
	}
	if len(o.namespaces) > 0 {
		co.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.namespaces {
			co.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return co, nil
}

// runController is hoist controller.
func runController(ctx context.Context, o controllerOptions, stderr io.Writer) error {
	logger, err := newLogger(o.logFormat, o.logLevel, stderr)
	if err != nil {
		return err
	}
	ctrllog.SetLogger(logr.FromSlogHandler(logger.Handler()))
	cfg, err := o.restConfig()
	if err != nil {
		return usage(err)
	}
	co, err := o.cacheOptions()
	if err != nil {
		return usage(err)
	}
	if err := o.leaderElection.validate(); err != nil {
		return usage(err)
	}
	if err := validateEventsAddr(o.eventsAddr); err != nil {
		return usage(err)
	}
	mgr, err := manager.New(cfg, manager.Options{
		Scheme:                        controller.NewScheme(),
		Logger:                        logr.FromSlogHandler(logger.Handler()),
		Cache:                         controller.CacheOptions(co, o.imageUpdaterNS),
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              o.leaderElectionID,
		LeaderElectionNamespace:       o.leaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &o.leaderElection.lease,
		RenewDeadline:                 &o.leaderElection.renew,
		RetryPeriod:                   &o.leaderElection.retry,
		GracefulShutdownTimeout:       &o.grace,
	})
	if err != nil {
		return failed(fmt.Errorf("creating the manager: %w", err))
	}

	// hoist's own metrics; the Go runtime's and the process's are
	// controller-runtime's (ctrlmetrics.Registry collects them): both
	// collecting them made /metrics fail.
	promReg := prometheus.NewRegistry()
	metrics, err := automation.NewMetrics(promReg)
	if err != nil {
		return err
	}
	loop := o.reg.options(logger, stderr)
	loop.Metrics = metrics
	runner, err := automation.New(loop)
	if err != nil {
		return usage(err)
	}
	defer runner.Close()
	ctl, err := controller.New(mgr, controller.Options{
		Service: service.ServiceOptions{
			Runner:        runner,
			Registry:      promReg,
			Metrics:       metrics,
			Logger:        logger,
			Window:        noneIfZero(o.window),
			StartupSpread: noneIfZero(o.spread),
			Parallelism:   o.concurrent,
			Grace:         o.grace,
		},
		Concurrent:                  o.concurrent,
		Logger:                      logger,
		EventsAddr:                  o.eventsAddr,
		ArgoCDImageUpdaterNamespace: o.imageUpdaterNS,
		StatusRefresh:               o.statusRefresh,
		RequeueDependency:           o.requeueDep,
	})
	if err != nil {
		return failed(err)
	}

	// /metrics carries hoist's metrics and controller-runtime's.
	ops := http.NewServeMux()
	ops.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{promReg, ctrlmetrics.Registry}, promhttp.HandlerOpts{}))
	ops.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	ops.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !mgr.GetCache().WaitForCacheSync(r.Context()) {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	ops.Handle("/status", ctl.Service().OpsHandler())
	type listener struct {
		flag, addr string
		handler    http.Handler
		paths      string
	}
	hooks := http.NewServeMux()
	hooks.Handle("/hook/", ctl.Service().HookHandler())
	listeners := []listener{{"--listen", o.listen, withFallback(hooks, ops), "/hook/, /metrics, /status, /healthz, /readyz"}}
	if o.opsListen != "" {
		hooks.Handle("/healthz", ops)
		hooks.Handle("/readyz", ops)
		listeners = []listener{
			{"--listen", o.listen, hooks, "/hook/, /healthz, /readyz"},
			{"--ops-listen", o.opsListen, ops, "/metrics, /status, /healthz, /readyz"},
		}
	}
	var (
		lc       net.ListenConfig
		servers  []*http.Server
		serveErr = make(chan error, len(listeners))
	)
	for _, l := range listeners {
		ln, err := lc.Listen(ctx, "tcp", l.addr)
		if err != nil {
			for _, srv := range servers {
				_ = srv.Close()
			}
			return usage(fmt.Errorf("%s %s: %w", l.flag, l.addr, err))
		}
		srv := service.NewHTTPServer(l.handler)
		servers = append(servers, srv)
		go func() { serveErr <- srv.Serve(ln) }()
		logger.Info("listening", "address", ln.Addr().String(), "paths", l.paths)
	}

	logger.Info("hoist controller is starting", "leaderElect", o.leaderElect, "namespaces", o.namespaces, "labelSelector", o.labelSelector)
	runErr := mgr.Start(ctx)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	for range servers {
		if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			runErr = errors.Join(runErr, err)
		}
	}
	if runErr != nil {
		return failed(runErr)
	}
	logger.Info("stopped")
	return nil
}

// validateEventsAddr checks --events-addr: empty, or an http or https URL.
func validateEventsAddr(addr string) error {
	if addr == "" {
		return nil
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("--events-addr: want an http or https URL")
	}
	return nil
}

// withFallback serves the paths of primary, and the rest with fallback.
func withFallback(primary *http.ServeMux, fallback http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := primary.Handler(r); pattern != "" {
			primary.ServeHTTP(w, r)
			return
		}
		fallback.ServeHTTP(w, r)
	})
}
